"""HTTP request and response models of the webhooks service."""
