print("tunefs.lustre: not yet")
