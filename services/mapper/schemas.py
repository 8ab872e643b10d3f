"""HTTP request and response models of the mapper service."""
