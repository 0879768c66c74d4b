/* ddlib's own scripts for the built site (navigation drawers on small screens). */
