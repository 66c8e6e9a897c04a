"""How submissions get onto disk for a run: folders, archives (safe extraction), manifests of git URLs."""
