"""Pulumi ComponentResources of blog-analytics; no business logic lives here."""
