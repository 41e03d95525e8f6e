"""Forward-backward representations (paper section 3.3, eq. 7-9, supplement A)."""
