print("mkfs.lustre: not yet")
