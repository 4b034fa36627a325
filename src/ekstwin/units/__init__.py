"""Layer 0: values with units (quantities, resource vectors). Imports nothing else from ekstwin but errors."""
