# gst-sharedmatrix
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Never imported: PyGObject's own gi/overrides/__init__.py is. Its
# pkgutil.extend_path() adds every <sys.path entry>/gi/overrides that holds
# an __init__.py to gi.overrides.__path__, so this file lets the directory
# above it (plugin/python in the source tree, or an installed
# <prefix>/lib/python3/dist-packages) be found through PYTHONPATH. There is
# no gi/__init__.py beside it on purpose: the real gi package must win.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
