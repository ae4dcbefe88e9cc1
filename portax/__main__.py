"""``python -m portax``: versions, backends and their devices, a smoke check per backend; exit status 1
when the default backend does not work."""
import sys
import warnings

from portax.core.environment import print_environment_info

warnings.filterwarnings("ignore", message="portax: backend plugin")
sys.exit(0 if print_environment_info() else 1)
