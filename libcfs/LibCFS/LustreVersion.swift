/// The release this implementation follows, as `lctl --version` prints it.
public enum LustreVersion {
    public static let string = "2.16.0"

    /// Registers `version` (`lctl get_param version`, as obdclass's proc entry).
    static func registerParams(in tree: ParamTree) {
        try? tree.register("version", get: { string })
    }
}
