/* termtext.h: text on its way to a person's terminal. Owns the one rule
 * that makes text from elsewhere (a validator's message, a node's error, a
 * recipe's reason, a king's tag) safe to print: one line, and nothing that
 * a terminal takes as a command. */
#ifndef KARPA_TERMTEXT_H
#define KARPA_TERMTEXT_H

/* In place: the C0 controls (newline and tab among them), DEL, the C1
 * controls U+0080..U+009F (in UTF-8, C2 80..C2 9F, which some terminals
 * obey as ESC [ and the like) and every byte that is not part of
 * well-formed UTF-8 (a lone 0x9B is CSI to an 8-bit terminal) become repl,
 * one for each byte, and so do the bidirectional controls (U+202E and its
 * kin), which reorder what a reader sees. Other well-formed UTF-8 past
 * U+009F is kept. Returns s. */
char *termtext_clean(char *s, char repl);
/* In place: only the bytes that are not part of well-formed UTF-8 become
 * repl, one for each byte; controls stay. For text that must be UTF-8 (a
 * JSON string) and is printed, if at all, by a reader that cleans it.
 * Returns s. */
char *termtext_utf8(char *s, char repl);

#endif
