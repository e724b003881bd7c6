"""Project mode: a folder with an `appwrite.json` served as the project, its functions packed,
deployed and redeployed when their folders change (hot reload)."""
