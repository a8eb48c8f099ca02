"""The data subject's rights and the region's retention term: erase what is kept too
long (retention), show a person everything held about them (inzage), correct it
(correction)."""
