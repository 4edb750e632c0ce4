import Flaks
print("flaks")
