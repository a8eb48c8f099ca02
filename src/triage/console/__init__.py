"""The console: the pages the desk, CIT, specialists and coordinators work in.

Server-rendered (Jinja2) by the API's own process, with the same functions the API calls,
so a page shows and does exactly what the API would for that person, audited the same way.
One small script of our own (``static/console.js``) adds the live parts (server-sent
events), countdowns and notifications; every page and form works without it.
"""
