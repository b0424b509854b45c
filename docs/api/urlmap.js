// Where gi-docgen links types of other namespaces. GLib and GObject have
// gi-docgen references; GStreamer's is made with hotdoc, whose page names
// differ, so its types lead to its index (the trailing '?' turns the
// gi-docgen page name into an ignored query string).
baseURLs = [
  [ 'GLib', 'https://docs.gtk.org/glib/' ],
  [ 'GObject', 'https://docs.gtk.org/gobject/' ],
  [ 'Gst', 'https://gstreamer.freedesktop.org/documentation/gstreamer/gi-index.html?' ],
]
