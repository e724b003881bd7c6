"""The rules of Appwrite's Functions service, one module per resource; never sees HTTP or SQL."""
