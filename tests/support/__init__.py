"""What the tests share, by concern: servers and clients (`servers`), a throwaway
PostgreSQL (`postgres`), rows of the real data set (`data`), trained models, synthetic
data and store builders (`models`), and model-free store fixtures (`manifests`). Tests
import from the module they need (and conftest's fixtures), never from each other; this
package itself holds only the checkout's root, so importing it starts nothing and reads
nothing."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
