print("lustre-oss: not yet")
