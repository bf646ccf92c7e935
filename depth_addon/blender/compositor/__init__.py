# SPDX-License-Identifier: GPL-3.0-or-later
"""Our compositor node group (owned by name): AI layer over the render, depth of field, fog, relighting.

:mod:`.group` builds, activates and restores it (the user's compositor is kept); :mod:`.fx` adds effects;
:mod:`.nodes` finds our named nodes; :mod:`.ownership` tells our groups from the user's copies of them.
"""
