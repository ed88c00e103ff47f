/* After each inclusion of treeshap_body.h (and treeshap_rows_body.h): every parameter
 * a path defines for the bodies, undefined, so the next path defines its own. */
#undef KERNEL
#undef KERNEL_ROWS
#undef TREE
#undef LEAVES
#undef UP
#undef FUSED
#undef TREE_ROWS
#undef UP_ROWS
#undef FUSED_ROWS
#undef LEAVES_ROWS
#undef ROWS
#undef NARROW
#undef NARROW_WIDTH
#undef MEETS
#undef MEETS_ROWS
#undef ATTRIBUTES
#undef WIDTH
#undef V
#undef LOAD
#undef STORE
#undef SET1
