// Placeholder entry point; replaced by the real tool.
print("not built yet")
