??=include <stdio.h>
#inc\
lude <sys/socket.h>
int x = 0x1p-3 + 1e+5;
const char *s = u8"a\n\x41\u00e9" "b";
char c = L'\0';
%: define X <: :>
/* ok */ // line\
continued
void f(void) { system("ls"); fopen("x", "r"); }
