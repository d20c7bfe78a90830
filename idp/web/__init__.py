"""Templating, security headers, locale selection and error pages."""
