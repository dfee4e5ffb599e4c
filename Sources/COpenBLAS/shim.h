#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>

/* LAPACK's divide-and-conquer SVD, exported by libopenblas (Debian ships no lapacke.h with it). */
void dgesdd_(const char * jobz, const int * m, const int * n, double * a, const int * lda, double * s, double * u,
             const int * ldu, double * vt, const int * ldvt, double * work, const int * lwork, int * iwork,
             int * info);
/* LAPACK's Cholesky solve of a symmetric positive definite system (Newton steps of the linear heads). */
void dposv_(const char * uplo, const int * n, const int * nrhs, double * a, const int * lda, double * b,
            const int * ldb, int * info);
#endif
