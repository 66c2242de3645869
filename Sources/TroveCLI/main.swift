print("trove")
