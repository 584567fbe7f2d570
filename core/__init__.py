"""Plumbing every app uses and no domain (DESIGN.md "Layout"): it imports no app of the project."""
