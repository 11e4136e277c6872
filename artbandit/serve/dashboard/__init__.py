"""The live dashboard of `artbandit serve` (docs/serve.md, "Dashboard").

Pages are static shells (artbandit/serve/dashboard/static/): their scripts poll the JSON endpoints
under /dashboard/api and draw with hand-written canvas code, so nothing comes from another origin
and every string from the service is set with textContent, never parsed as HTML.
"""

from artbandit.serve.dashboard.routes import mount

__all__ = ["mount"]
