/* version.h: the project's version numbers, one place. Semantic versioning
 * for the project (the karpa binary and library) and for the recipe API
 * (the contract a recipe is built against: a major bump breaks recipes, a
 * minor one adds to what they may rely on). The protocol version is the
 * bundle's `protocol` field. CHANGELOG.md records every change of these. */
#ifndef KARPA_VERSION_H
#define KARPA_VERSION_H

#define KARPA_VERSION "0.2.0"
/* 1.1: the harness restarts the recipe from its own checkpoint at every
 * checkpoint, so state outside kr_state_save does not survive one. */
/* 1.2: a recipe may implement kr_train_step_traced (disputes). */
/* 1.3: kr_env.gemm and kr_gemm_record: a GPU recipe's matrix-product
 * algorithms, recorded in a proof and pinned on its replay. */
#define KARPA_RECIPE_API_VERSION "1.3.0"

#endif
