"""Built-in problems, one module per family; importing this package registers them."""

from optbench.objectives import convex, data, neural, nonsmooth, testfunctions  # noqa: F401
from optbench.objectives import bbob  # noqa: F401  (COCO's bbob suite with gradients)
from optbench.objectives import transforms  # noqa: F401  (wrappers of any problem)
from optbench.objectives import s2mpj  # noqa: F401  (CUTEst through S2MPJ; needs the [cutest] extra to create)
from optbench.objectives import datasets  # noqa: F401  (real data sets; scikit-learn, extra [data], on first use)
