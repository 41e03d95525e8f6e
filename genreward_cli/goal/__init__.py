"""Goal extraction: frame selection (OpenCLIP, eq. 6), video and image encoders (eq. 3-5, DINOv3)."""
