"""Tools for the book's HTML site, kept out of ``ddlib`` because they are about the site, not the
library: a headless-Chromium check of the built pages (:mod:`booksite.check`), the stamp that keys
the notebook execution cache on ddlib's source (:mod:`booksite.cache_stamp`) and a Sphinx extension
that publishes each executed notebook next to its page (:mod:`booksite.notebook_downloads`)."""
