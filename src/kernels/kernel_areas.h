/* Every area's list of dispatched kernels, in order, for one element type: instantiated by
 * kernel_list.h through fg_each_type.h. No include guard. */
#include "gemm/list_gemm.h"
#include "loss/list_loss.h"
#include "optim/list_optim.h"
#include "model/list_model.h"
#include "minimize/list_minimize.h"
#include "model/list_curvature.h"
#include "model/list_sparse.h"
