/// The release this implementation follows, as `lctl --version` prints it.
public enum LustreVersion {
    public static let string = "2.16.0"
}
