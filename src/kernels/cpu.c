/* placeholder: replaced by the kernels module */
#include "common/common.h"
