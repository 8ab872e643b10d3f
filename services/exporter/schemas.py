"""HTTP request and response models of the exporter service."""
