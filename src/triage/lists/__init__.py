"""Lists and searches: the werkvoorraad, cases, households (for the API and the console).

Lists hold ids, codes, times and staff ids, never personal data; a search of households
shows people and is audited with its purpose, its terms and what it found.
"""
