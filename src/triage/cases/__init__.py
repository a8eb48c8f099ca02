"""Cases: a household's open case and the meldingen in it, as authorised readers see them."""
