"""The file host: serves the URL groups of the configuration over HTTP (``service.FileHost``)."""
