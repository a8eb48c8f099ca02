"""Region files shipped with the package (the demo region, Hart van Brabant)."""
