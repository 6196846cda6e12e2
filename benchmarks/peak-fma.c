/* Peak FP32 FMA throughput of one core with AVX-512: 12 independent FMA chains (enough to cover latency on two pipes).
   Build: gcc -O3 -mavx512f -mfma -o peak-fma peak-fma.c; run one copy per core to see the machine peak. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
#define CH 16
int main(){ 
 struct timespec t0,t1; long N=100000000;
 __m512 a0=_mm512_set1_ps(0),a1=_mm512_set1_ps(1),a2=_mm512_set1_ps(2),a3=_mm512_set1_ps(3),a4=_mm512_set1_ps(4),a5=_mm512_set1_ps(5),a6=_mm512_set1_ps(6),a7=_mm512_set1_ps(7),a8=_mm512_set1_ps(8),a9=_mm512_set1_ps(9),a10=_mm512_set1_ps(10),a11=_mm512_set1_ps(11);
 __m512 b=_mm512_set1_ps(0.9999999f), c=_mm512_set1_ps(1e-7f);
 clock_gettime(CLOCK_MONOTONIC,&t0);
 for(long i=0;i<N;i++){ a0=_mm512_fmadd_ps(a0,b,c);a1=_mm512_fmadd_ps(a1,b,c);a2=_mm512_fmadd_ps(a2,b,c);a3=_mm512_fmadd_ps(a3,b,c);a4=_mm512_fmadd_ps(a4,b,c);a5=_mm512_fmadd_ps(a5,b,c);a6=_mm512_fmadd_ps(a6,b,c);a7=_mm512_fmadd_ps(a7,b,c);a8=_mm512_fmadd_ps(a8,b,c);a9=_mm512_fmadd_ps(a9,b,c);a10=_mm512_fmadd_ps(a10,b,c);a11=_mm512_fmadd_ps(a11,b,c);}
 clock_gettime(CLOCK_MONOTONIC,&t1); double s=(t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)/1e9;
 __m512 r=_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0,a1),_mm512_add_ps(a2,a3)),_mm512_add_ps(_mm512_add_ps(a4,a5),_mm512_add_ps(a6,a7)));
 r=_mm512_add_ps(r,_mm512_add_ps(_mm512_add_ps(a8,a9),_mm512_add_ps(a10,a11)));
 printf("peak FP32 FMA, one core, AVX-512: %.1f GFLOP/s (%f)\n", N*12*32.0/s/1e9, _mm512_reduce_add_ps(r));}
