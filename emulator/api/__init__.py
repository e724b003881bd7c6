"""HTTP only: one module per resource; each handler parses and validates parameters, then calls
one backend operation and renders its result."""
