/* gst-sharedmatrix
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstsharedmatrixelement.h"
#include "gstupdatetestsrc.h"
#include "gstmatrixheatmap.h"
#include "gstmatrixlookup.h"
#include "gstupdatepartition.h"
#ifdef HAVE_NATS
#include "gstjetstreamsink.h"
#include "gstjetstreamsrc.h"
#endif

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  /* no GPU probing here: backends are chosen when an element starts */
  ret |= GST_ELEMENT_REGISTER (sharedmatrix, plugin);
  ret |= GST_ELEMENT_REGISTER (updatetestsrc, plugin);
  ret |= GST_ELEMENT_REGISTER (matrixheatmap, plugin);
  ret |= GST_ELEMENT_REGISTER (matrixlookup, plugin);
  ret |= GST_ELEMENT_REGISTER (updatepartition, plugin);
#ifdef HAVE_NATS
  ret |= GST_ELEMENT_REGISTER (jetstreamsink, plugin);
  ret |= GST_ELEMENT_REGISTER (jetstreamsrc, plugin);
#endif
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, sharedmatrix,
    "Shared parameter matrix updated in place by sparse row-update streams",
    plugin_init, VERSION, "LGPL", "gst-sharedmatrix",
    "https://gstreamer.freedesktop.org")
