"""Qingyi blueprints: one package per domain (see DESIGN.md)."""
