/* placeholder: the daemon is built in src/fuse/ (issue 3) */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "h5fs: not built yet\n");
	return 1;
}
