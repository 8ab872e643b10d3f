"""HTTP request and response models of the auth service."""
