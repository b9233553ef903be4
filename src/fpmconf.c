/*
 * pfpm --convert-fpm: php-fpm's INI configuration in, pfpm's out.
 *
 * php-fpm hands its files to the Zend INI parser one line at a time
 * (ZEND_INI_SCANNER_NORMAL), so a line is the unit here too.  The reader
 * follows the Zend scanner's rules (quotes, ${VAR}, constants, the
 * | & ^ ~ ! operators, yes/no/on/off), then php-fpm's own: [global] and
 * pool sections, include, arrays, $pool, relative paths and value types.
 * The whole configuration is read first; then each pool is written with
 * the directives pfpm has, php-fpm's defaults where pfpm's differ, and a
 * "# pfpm: cannot carry over" comment for each of the others.
 */
#include "pfpm.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The defaults of Debian's php-fpm8.2 build (php-config --prefix). */
#define FPM_PREFIX	"/usr"
#define FPM_STATEDIR	"/var"
#define FPM_MAX_NESTING	5	/* php-fpm's ini_recursion limit */

/*
 * ${NAME} is kept for pfpm to expand when it loads the configuration, as
 * php-fpm does when it starts: inside values it is \001NAME\002.
 */
#define ENV_OPEN	'\001'
#define ENV_CLOSE	'\002'

struct text {
	char *s;
	size_t len;
	size_t cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = xreallocarray(t->s, t->cap, 1);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void
text_addc(struct text *t, char c)
{
	text_add(t, &c, 1);
}

static void
text_adds(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void PRINTFLIKE(2, 3)
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	text_adds(t, s);
	free(s);
}

/* The text so far, the buffer reset; never NULL. */
static char *
text_take(struct text *t)
{
	char *s = t->s != NULL ? t->s : xstrdup("");

	memset(t, 0, sizeof *t);
	return s;
}

/* ------------------------------------------------------------------ */
/* The INI reader: one line, as the Zend scanner and parser see it.    */

enum stmt_kind { STMT_SECTION, STMT_ENTRY, STMT_ARRAY };

struct lexer;
typedef int (*stmt_fn)(struct lexer *, enum stmt_kind, char *, char *,
    char *);

struct lexer {
	const char *s;		/* the line and the '\n' php-fpm appends */
	size_t len;
	size_t i;
	char *error;
	bool reenter;		/* a value ended early: go on with the line */
	bool env_now;		/* ${VAR} replaced from our environment */
	char *unknown_const;	/* a name that may be a PHP constant */
	bool in_value;		/* lexing a value (not a key or section) */
	char *raw;		/* the value as written */
	stmt_fn stmt;
	void *arg;
};

static void PRINTFLIKE(2, 3)
lex_error(struct lexer *lx, const char *fmt, ...)
{
	va_list ap;

	if (lx->error != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&lx->error, fmt, ap);
	va_end(ap);
}

static int
at(const struct lexer *lx, size_t i)
{
	return i < lx->len ? (unsigned char)lx->s[i] : '\0';
}

/* LABEL_CHAR of PHP 8.2: [^=\n\r\t;&|^$~(){}!"[\x00] (']' is one). */
static bool
label_char(int c)
{
	return c != '\0' && strchr("=\n\r\t;&|^$~(){}!\"[", c) == NULL;
}

/* VALUE_CHARS, without LITERAL_DOLLAR. */
static bool
value_char(int c)
{
	return c != '\0' && strchr("$= \t\n\r;&|^~()!\"'", c) == NULL;
}

/* SECTION_VALUE_CHARS, without the escapes and LITERAL_DOLLAR. */
static bool
section_char(int c)
{
	return c != '\0' && strchr("$\n\r;\"']\\", c) == NULL;
}

/*
 * The longest run of VALUE_CHARS (section: SECTION_VALUE_CHARS) from i.
 * re2c takes the longest match of the whole run, and "$\\x" can be read
 * as "$\\" then "x" or as one escape, so every way is followed.
 */
static size_t
char_run(const struct lexer *lx, size_t i, bool section)
{
	bool *reach;
	size_t n = lx->len - i, p, best = 0;
	int c;

	if (i >= lx->len)
		return 0;
	reach = xcalloc(n + 4, sizeof *reach);
	reach[0] = true;
	for (p = 0; p <= n; p++) {
		if (!reach[p])
			continue;
		best = p;
		c = at(lx, i + p);
		if (section ? section_char(c) : value_char(c))
			reach[p + 1] = true;
		if (section && c == '\\' && at(lx, i + p + 1) != '\0')
			reach[p + 2] = true;
		if (c == '$' && at(lx, i + p + 1) != '{' &&
		    at(lx, i + p + 1) != '\0')
			reach[p + 2] = true;
		if (c == '$' && at(lx, i + p + 1) == '\\' &&
		    at(lx, i + p + 2) != '\0')
			reach[p + 3] = true;
	}
	free(reach);
	return best;
}

static size_t
value_run(const struct lexer *lx, size_t i)
{
	return char_run(lx, i, false);
}

static size_t
section_run(const struct lexer *lx, size_t i)
{
	return char_run(lx, i, true);
}

/* CONSTANT: [a-zA-Z_][a-zA-Z0-9_]* */
static size_t
constant_run(const struct lexer *lx, size_t i)
{
	size_t start = i;

	if (!isalpha(at(lx, i)) && at(lx, i) != '_')
		return 0;
	while (isalnum(at(lx, i)) || at(lx, i) == '_')
		i++;
	return i - start;
}

/*
 * The yes/no words and the blanks after them: 1 (true), 0 (false or null)
 * and their length, or -1.
 */
static int
bool_word(const struct lexer *lx, size_t i, size_t *len)
{
	static const struct {
		const char *word;
		int value;
	} words[] = {
		{ "true", 1 }, { "on", 1 }, { "yes", 1 }, { "false", 0 },
		{ "off", 0 }, { "no", 0 }, { "none", 0 }, { "null", 0 },
	};
	size_t k, best = 0, n;
	int value = -1;

	for (k = 0; k < sizeof words / sizeof words[0]; k++) {
		n = strlen(words[k].word);
		if (n > best && i + n <= lx->len &&
		    strncasecmp(lx->s + i, words[k].word, n) == 0) {
			best = n;
			value = words[k].value;
		}
	}
	if (value == -1)
		return -1;
	while (at(lx, i + best) == ' ' || at(lx, i + best) == '\t')
		best++;
	*len = best;
	return value;
}

static void
skip_blanks(struct lexer *lx)
{
	while (at(lx, lx->i) == ' ' || at(lx, lx->i) == '\t')
		lx->i++;
}

/*
 * The PHP constants a php-fpm configuration uses (error_reporting);
 * php-fpm looks any name up in the running engine.
 */
static const char *
constant_value(const char *name)
{
	static const struct {
		const char *name;
		const char *value;
	} constants[] = {
		{ "E_ERROR", "1" }, { "E_WARNING", "2" }, { "E_PARSE", "4" },
		{ "E_NOTICE", "8" }, { "E_CORE_ERROR", "16" },
		{ "E_CORE_WARNING", "32" }, { "E_COMPILE_ERROR", "64" },
		{ "E_COMPILE_WARNING", "128" }, { "E_USER_ERROR", "256" },
		{ "E_USER_WARNING", "512" }, { "E_USER_NOTICE", "1024" },
		{ "E_STRICT", "2048" }, { "E_RECOVERABLE_ERROR", "4096" },
		{ "E_DEPRECATED", "8192" }, { "E_USER_DEPRECATED", "16384" },
		{ "E_ALL", "32767" },
	};
	size_t k;

	/* true, false and null are constants too, in any case */
	if (strcasecmp(name, "true") == 0)
		return "1";
	if (strcasecmp(name, "false") == 0 || strcasecmp(name, "null") == 0)
		return "";
	for (k = 0; k < sizeof constants / sizeof constants[0]; k++)
		if (strcmp(constants[k].name, name) == 0)
			return constants[k].value;
	return NULL;
}

/* A name that is not ours to look up but reads like a PHP constant. */
static bool
looks_constant(const char *name)
{
	bool upper = false;

	for (; *name != '\0'; name++) {
		if (islower((unsigned char)*name))
			return false;
		if (isupper((unsigned char)*name))
			upper = true;
	}
	return upper;
}

static void
lex_constant(struct lexer *lx, size_t n, struct text *out)
{
	char *name = xstrndup(lx->s + lx->i, n);
	const char *v = constant_value(name);

	lx->i += n;
	if (v != NULL)
		text_adds(out, v);
	else {
		text_adds(out, name);
		if (lx->in_value && looks_constant(name) &&
		    strchr(name, '_') != NULL && lx->unknown_const == NULL)
			lx->unknown_const = xstrdup(name);
	}
	free(name);
}

static bool
env_name(const char *s, size_t n)
{
	size_t k;

	if (n == 0 || (!isalpha((unsigned char)s[0]) && s[0] != '_'))
		return false;
	for (k = 1; k < n; k++)
		if (!isalnum((unsigned char)s[k]) && s[k] != '_')
			return false;
	return true;
}

/* ${NAME}: a marker for pfpm to expand, or the value now. */
static int
lex_varref(struct lexer *lx, struct text *out)
{
	size_t start, end;
	char *name;
	const char *v;

	lx->i += 2;
	start = lx->i;
	while (label_char(at(lx, lx->i)))
		lx->i++;
	end = lx->i;
	if (at(lx, lx->i) != '}') {
		lex_error(lx, "'${' is not closed with '}'");
		return -1;
	}
	lx->i++;
	while (start < end && (lx->s[start] == ' ' || lx->s[start] == '\t'))
		start++;
	while (end > start && (lx->s[end - 1] == ' ' || lx->s[end - 1] == '\t'))
		end--;
	if (start == end) {
		lex_error(lx, "'${}' names no variable");
		return -1;
	}
	if (env_name(lx->s + start, end - start)) {
		text_addc(out, ENV_OPEN);
		text_add(out, lx->s + start, end - start);
		text_addc(out, ENV_CLOSE);
		return 0;
	}
	/* As php-fpm 8.2: the whole text is the name ("A:-b" included). */
	name = xstrndup(lx->s + start, end - start);
	if ((v = getenv(name)) != NULL)
		text_adds(out, v);
	lx->env_now = true;
	free(name);
	return 0;
}

/* zend_ini_escape_string(): only \" \\ and \$ are escapes. */
static void
unescape(const char *s, size_t n, struct text *out)
{
	size_t k;

	for (k = 0; k < n; k++) {
		if (s[k] != '\\') {
			text_addc(out, s[k]);
			continue;
		}
		if (++k >= n) {
			text_addc(out, '\\');
			break;
		}
		if (s[k] == '"' || s[k] == '\\' || s[k] == '$')
			text_addc(out, s[k]);
		else {
			text_addc(out, '\\');
			text_addc(out, s[k]);
		}
	}
}

/* "...": at the opening quote; the blanks after the closing one go too. */
static int
lex_dquoted(struct lexer *lx, struct text *out)
{
	size_t start;
	int c;

	lx->i++;
	for (;;) {
		if (lx->i >= lx->len || lx->s[lx->i] == '\0') {
			lex_error(lx, "a double-quoted string is not closed");
			return -1;
		}
		if (lx->s[lx->i] == '"') {
			lx->i++;
			skip_blanks(lx);
			return 0;
		}
		if (lx->s[lx->i] == '$' && at(lx, lx->i + 1) == '{') {
			if (lex_varref(lx, out) == -1)
				return -1;
			continue;
		}
		start = lx->i;
		while (lx->i < lx->len) {
			c = (unsigned char)lx->s[lx->i++];
			if (c == '"') {
				lx->i--;
				break;
			}
			if (c == '$' && at(lx, lx->i) == '{') {
				lx->i--;
				break;
			}
			if (c == '\\' && lx->i < lx->len) {
				c = (unsigned char)lx->s[lx->i++];
				/* "C:\path\" at the end of the line */
				if (c == '"' && (lx->i >= lx->len ||
				    lx->s[lx->i] == '\n' || lx->s[lx->i] == '\r')) {
					lx->i--;
					break;
				}
			}
		}
		unescape(lx->s + start, lx->i - start, out);
	}
}

/* '...': raw, at least one character, on this line. */
static bool
lex_raw(struct lexer *lx, struct text *out)
{
	const char *q;

	if (at(lx, lx->i) != '\'' ||
	    (q = memchr(lx->s + lx->i + 1, '\'', lx->len - lx->i - 1)) == NULL ||
	    q == lx->s + lx->i + 1)
		return false;
	text_add(out, lx->s + lx->i + 1, (size_t)(q - lx->s) - lx->i - 1);
	lx->i = (size_t)(q - lx->s) + 1;
	return true;
}

/*
 * A section name ([name]) or an array key (name[key]): up to ']'.  In a
 * key, a name alone is looked up as a constant; blanks before ']' go.
 */
static int
lex_bracketed(struct lexer *lx, bool key, struct text *out)
{
	size_t n, j;
	int c;

	for (;;) {
		c = at(lx, lx->i);
		if (c == ' ' || c == '\t') {
			for (j = lx->i; at(lx, j) == ' ' || at(lx, j) == '\t'; j++)
				;
			if (at(lx, j) == '"') {
				lx->i = j;
				continue;
			}
			if (key && at(lx, j) == ']') {
				lx->i = j;
				continue;
			}
		}
		if (c == ']') {
			lx->i++;
			return 0;
		}
		if (c == '"') {
			if (lex_dquoted(lx, out) == -1)
				return -1;
			continue;
		}
		if (c == '$' && at(lx, lx->i + 1) == '{') {
			if (lex_varref(lx, out) == -1)
				return -1;
			continue;
		}
		if (lex_raw(lx, out))
			continue;
		if ((n = section_run(lx, lx->i)) > 0) {
			if (key && constant_run(lx, lx->i) == n)
				lex_constant(lx, n, out);
			else {
				text_add(out, lx->s + lx->i, n);
				lx->i += n;
			}
			continue;
		}
		if (c == '\0' || c == '\n' || c == '\r')
			lex_error(lx, key ? "'[' is not closed with ']'" :
			    "unterminated section header");
		else
			lex_error(lx, "unexpected '%c' in %s", c,
			    key ? "an array key" : "a section header");
		return -1;
	}
}

/* var_string_list: strings, constants, quotes and ${VAR}, concatenated. */
static int
lex_strings(struct lexer *lx, struct text *out)
{
	size_t n, j, blen;
	int c, items = 0;

	for (;; items++) {
		c = at(lx, lx->i);
		if (c == ' ' || c == '\t') {
			for (j = lx->i; at(lx, j) == ' ' || at(lx, j) == '\t'; j++)
				;
			c = at(lx, j);
			if (c == '\0' || c == '\n' || c == '\r' || c == ';')
				break;
			if (c == '"') {
				lx->i = j;
				if (lex_dquoted(lx, out) == -1)
					return -1;
				continue;
			}
			text_add(out, lx->s + lx->i, j - lx->i);
			lx->i = j;
			continue;
		}
		if (c == '"') {
			if (lex_dquoted(lx, out) == -1)
				return -1;
			continue;
		}
		if (c == '$' && at(lx, lx->i + 1) == '{') {
			if (lex_varref(lx, out) == -1)
				return -1;
			continue;
		}
		if (lex_raw(lx, out))
			continue;
		if ((n = value_run(lx, lx->i)) == 0)
			break;
		if (bool_word(lx, lx->i, &blen) != -1 && blen >= n) {
			lex_error(lx, "'%.*s' can only be the whole value",
			    (int)n, lx->s + lx->i);
			return -1;
		}
		if (constant_run(lx, lx->i) == n)
			lex_constant(lx, n, out);
		else {
			text_add(out, lx->s + lx->i, n);
			lx->i += n;
		}
	}
	if (items == 0) {
		c = at(lx, lx->i);
		if (c == '\0' || c == '\n' || c == '\r')
			lex_error(lx, "a value is missing at the end of the line");
		else
			lex_error(lx, "unexpected '%c' in a value", c);
		return -1;
	}
	return 0;
}

/* The integer of an operand, as zend_ini_do_op() takes it (atoi). */
static int
operand(struct lexer *lx, const char *s)
{
	struct text t = { 0 };
	const char *close;
	char *name;
	const char *v;
	int n;

	for (; *s != '\0'; s++) {
		if (*s != ENV_OPEN || (close = strchr(s, ENV_CLOSE)) == NULL) {
			text_addc(&t, *s);
			continue;
		}
		name = xstrndup(s + 1, (size_t)(close - s - 1));
		if ((v = getenv(name)) != NULL)
			text_adds(&t, v);
		free(name);
		lx->env_now = true;
		s = close;
	}
	n = atoi(t.s != NULL ? t.s : "");
	free(t.s);
	return n;
}

static int lex_expr(struct lexer *, char **);

static int
lex_unary(struct lexer *lx, char **out)
{
	struct text t = { 0 };
	char *v;
	int c = at(lx, lx->i);

	if (c == '~' || c == '!') {
		lx->i++;
		skip_blanks(lx);
		if (lex_unary(lx, &v) == -1)
			return -1;
		xasprintf(out, "%d", c == '~' ? ~operand(lx, v) : !operand(lx, v));
		free(v);
		return 0;
	}
	if (c == '(') {
		lx->i++;
		skip_blanks(lx);
		if (lex_expr(lx, out) == -1)
			return -1;
		if (at(lx, lx->i) != ')') {
			lex_error(lx, "'(' is not closed with ')'");
			free(*out);
			*out = NULL;
			return -1;
		}
		lx->i++;
		skip_blanks(lx);
		return 0;
	}
	if (lex_strings(lx, &t) == -1) {
		free(t.s);
		return -1;
	}
	*out = text_take(&t);
	return 0;
}

/* expr: | & and ^ bind alike, from the left; ~ and ! bind tighter. */
static int
lex_expr(struct lexer *lx, char **out)
{
	char *rhs;
	int c, a, b, r;

	if (lex_unary(lx, out) == -1)
		return -1;
	while ((c = at(lx, lx->i)) == '|' || c == '&' || c == '^') {
		lx->i++;
		skip_blanks(lx);
		if (lex_unary(lx, &rhs) == -1) {
			free(*out);
			*out = NULL;
			return -1;
		}
		a = operand(lx, *out);
		b = operand(lx, rhs);
		r = c == '|' ? (a | b) : c == '&' ? (a & b) : (a ^ b);
		free(*out);
		free(rhs);
		xasprintf(out, "%d", r);
	}
	return 0;
}

/*
 * What ends a value: the end of the line, a ';' comment, or a quote that
 * does not open a '...' string.  With no quote after it, PHP's scanner
 * runs off the end of the line and ignores the rest; a second quote
 * right after it ends the value and the line goes on.
 */
static int
lex_value_end(struct lexer *lx)
{
	int c;

	skip_blanks(lx);
	c = at(lx, lx->i);
	if (c == '\0' || c == '\n' || c == '\r' || c == ';') {
		lx->i = lx->len;
		return 0;
	}
	if (c == '\'' && at(lx, lx->i + 1) == '\'') {
		lx->i++;
		lx->reenter = true;
		return 0;
	}
	if (c == '\'' && memchr(lx->s + lx->i + 1, '\'', lx->len - lx->i - 1) ==
	    NULL) {
		lx->i = lx->len;
		return 0;
	}
	if (c == '=')
		lex_error(lx, "'=' in a value must be quoted");
	else
		lex_error(lx, "unexpected '%c' in a value", c);
	return -1;
}

/* string_or_value, after '=' and its blanks. */
static int
lex_value(struct lexer *lx, char **out)
{
	size_t blen, start = lx->i, end;
	int b, c;

	*out = NULL;
	free(lx->raw);
	lx->raw = NULL;
	c = at(lx, lx->i);
	if (c == '\0' || c == '\n' || c == '\r' || c == ';') {
		lx->i = lx->len;
		*out = xstrdup("");
		lx->raw = xstrdup("");
		return 0;
	}
	lx->in_value = true;
	if ((b = bool_word(lx, lx->i, &blen)) != -1 &&
	    blen >= value_run(lx, lx->i)) {
		lx->i += blen;
		*out = xstrdup(b ? "1" : "");
	} else if (c == '\'' && at(lx, lx->i + 1) == '\'')
		*out = xstrdup("");
	else if (c == '\'' &&
	    memchr(lx->s + lx->i + 1, '\'', lx->len - lx->i - 1) == NULL) {
		lex_error(lx, "a single-quoted string is not closed");
		return -1;
	} else if (lex_expr(lx, out) == -1) {
		lx->in_value = false;
		return -1;
	}
	lx->in_value = false;
	for (end = lx->i; end > start && (lx->s[end - 1] == ' ' ||
	    lx->s[end - 1] == '\t'); end--)
		;
	lx->raw = xstrndup(lx->s + start, end - start);
	if (lex_value_end(lx) == -1) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int
lex_statement(struct lexer *lx, size_t blanks)
{
	struct text t = { 0 };
	size_t start, end, blen;
	char *name, *key = NULL, *value = NULL;
	int c = at(lx, lx->i);

	if (c == '[') {
		lx->i++;
		if (lex_bracketed(lx, false, &t) == -1) {
			free(t.s);
			return -1;
		}
		skip_blanks(lx);
		return lx->stmt(lx, STMT_SECTION, text_take(&t), NULL, NULL);
	}
	if (!label_char(c)) {
		lex_error(lx, "unexpected '%c'", c);
		return -1;
	}
	start = lx->i;
	while (label_char(at(lx, lx->i)))
		lx->i++;
	end = lx->i;
	/* spaces right before a label are part of it, then it is no yes/no */
	while (blanks < start && lx->s[start - 1] == ' ')
		start--;
	if (bool_word(lx, start, &blen) != -1 && blen >= end - start) {
		while (end > start && lx->s[end - 1] == ' ')
			end--;
		lex_error(lx, "'%.*s' cannot be a directive name",
		    (int)(end - start), lx->s + start);
		return -1;
	}
	while (start < end && lx->s[start] == ' ')
		start++;
	while (end > start && lx->s[end - 1] == ' ')
		end--;
	name = xstrndup(lx->s + start, end - start);
	if (at(lx, lx->i) == '[') {
		lx->i++;
		skip_blanks(lx);
		if (lex_bracketed(lx, true, &t) == -1) {
			free(t.s);
			free(name);
			return -1;
		}
		key = text_take(&t);
	}
	skip_blanks(lx);
	if (at(lx, lx->i) != '=') {
		lex_error(lx, "'=' is missing after '%s%s%s%s'", name,
		    key != NULL ? "[" : "", key != NULL ? key : "",
		    key != NULL ? "]" : "");
		free(name);
		free(key);
		return -1;
	}
	lx->i++;
	skip_blanks(lx);
	if (lex_value(lx, &value) == -1) {
		free(name);
		free(key);
		return -1;
	}
	return lx->stmt(lx, key != NULL ? STMT_ARRAY : STMT_ENTRY, name, key,
	    value);
}

/* Every statement of one line (without its '\n'). */
static int
lex_line(struct lexer *lx, const char *line)
{
	char *copy;
	size_t blanks;
	int c, rc = 0;

	xasprintf(&copy, "%s\n", line);
	lx->s = copy;
	lx->len = strlen(copy);
	lx->i = 0;
	if (strchr(copy, ENV_OPEN) != NULL || strchr(copy, ENV_CLOSE) != NULL) {
		lex_error(lx, "unexpected control character");
		free(copy);
		return -1;
	}
	if (strncmp(copy, "\xef\xbb\xbf", 3) == 0)
		lx->i = 3;
	for (;;) {
		blanks = lx->i;
		skip_blanks(lx);
		c = at(lx, lx->i);
		if (c == '\0' || c == '\n' || c == '\r' || c == ';')
			break;
		/* php-fpm 8.2 rejects '#' comments; php-fpm 5 took them. */
		if (c == '#' && lx->i == strspn(copy, " \t\xef\xbb\xbf"))
			break;
		lx->reenter = false;
		if ((rc = lex_statement(lx, blanks)) == -1)
			break;
	}
	free(copy);
	lx->s = NULL;
	return rc;
}

/* The markers of a value shown as ${NAME}, control characters escaped. */
static char *
display(const char *v)
{
	struct text t = { 0 };

	for (; *v != '\0'; v++) {
		if (*v == ENV_OPEN)
			text_adds(&t, "${");
		else if (*v == ENV_CLOSE)
			text_addc(&t, '}');
		else if (*v == '\n')
			text_adds(&t, "\\n");
		else if (*v == '\r')
			text_adds(&t, "\\r");
		else if (iscntrl((unsigned char)*v))
			text_printf(&t, "\\x%02x", (unsigned char)*v);
		else
			text_addc(&t, *v);
	}
	return text_take(&t);
}

static int
dump_stmt(struct lexer *lx, enum stmt_kind kind, char *name, char *key,
    char *value)
{
	struct text *t = lx->arg;
	char *n = display(name), *k = key != NULL ? display(key) : NULL;
	char *v = value != NULL ? display(value) : NULL;

	if (kind == STMT_SECTION)
		text_printf(t, "[%s]\n", n);
	else if (kind == STMT_ARRAY)
		text_printf(t, "%s[%s] = \"%s\"\n", n, k, v);
	else
		text_printf(t, "%s = \"%s\"\n", n, v);
	free(n);
	free(k);
	free(v);
	free(name);
	free(key);
	free(value);
	return 0;
}

/*
 * The statements of one php-fpm INI line, one per line of *out:
 * "[section]", "name = \"value\"" or "name[key] = \"value\"", with ${NAME}
 * for what pfpm would expand.  For tests and debugging.
 */
int
fpmconf_parse_line(const char *line, char **out, char **cause)
{
	struct lexer lx;
	struct text t = { 0 };

	memset(&lx, 0, sizeof lx);
	lx.stmt = dump_stmt;
	lx.arg = &t;
	if (lex_line(&lx, line) == -1) {
		*cause = lx.error != NULL ? lx.error : xstrdup("syntax error");
		free(t.s);
		free(lx.unknown_const);
		free(lx.raw);
		return -1;
	}
	free(lx.error);
	free(lx.unknown_const);
	free(lx.raw);
	*out = text_take(&t);
	return 0;
}

/* ------------------------------------------------------------------ */
/* php-fpm's directives and what pfpm makes of them.                   */

enum global_dir {
	G_PID, G_ERROR_LOG, G_SYSLOG_IDENT, G_SYSLOG_FACILITY, G_LOG_BUFFERING,
	G_LOG_LEVEL, G_LOG_LIMIT, G_ERT, G_ERI, G_PCT, G_PROCESS_MAX,
	G_PRIORITY, G_DAEMONIZE, G_RLIMIT_FILES, G_RLIMIT_CORE, G_EVENTS,
	G_SYSTEMD_INTERVAL, G_COUNT
};

static const char *const global_names[G_COUNT] = {
	"pid", "error_log", "syslog.ident", "syslog.facility", "log_buffering",
	"log_level", "log_limit", "emergency_restart_threshold",
	"emergency_restart_interval", "process_control_timeout", "process.max",
	"process.priority", "daemonize", "rlimit_files", "rlimit_core",
	"events.mechanism", "systemd_interval",
};

enum pool_dir {
	P_PREFIX, P_USER, P_GROUP, P_LISTEN, P_BACKLOG, P_ACL_USERS,
	P_ACL_GROUPS, P_OWNER, P_LGROUP, P_MODE, P_ALLOWED, P_PRIORITY,
	P_DUMPABLE, P_PM, P_MAX_CHILDREN, P_START, P_MIN_SPARE, P_MAX_SPARE,
	P_SPAWN_RATE, P_IDLE_TIMEOUT, P_MAX_REQUESTS, P_STATUS_PATH,
	P_STATUS_LISTEN, P_PING_PATH, P_PING_RESPONSE, P_ACCESS_LOG,
	P_ACCESS_FORMAT, P_SLOWLOG, P_SLOWLOG_TIMEOUT, P_TRACE_DEPTH,
	P_TERMINATE, P_TRACK_FINISHED, P_RLIMIT_FILES, P_RLIMIT_CORE,
	P_CHROOT, P_CHDIR, P_CATCH, P_DECORATE, P_CLEAR_ENV, P_LIMIT_EXT,
	P_APPARMOR, P_COUNT
};

static const char *const pool_names[P_COUNT] = {
	"prefix", "user", "group", "listen", "listen.backlog",
	"listen.acl_users", "listen.acl_groups", "listen.owner",
	"listen.group", "listen.mode", "listen.allowed_clients",
	"process.priority", "process.dumpable", "pm", "pm.max_children",
	"pm.start_servers", "pm.min_spare_servers", "pm.max_spare_servers",
	"pm.max_spawn_rate", "pm.process_idle_timeout", "pm.max_requests",
	"pm.status_path", "pm.status_listen", "ping.path", "ping.response",
	"access.log", "access.format", "slowlog", "request_slowlog_timeout",
	"request_slowlog_trace_depth", "request_terminate_timeout",
	"request_terminate_timeout_track_finished", "rlimit_files",
	"rlimit_core", "chroot", "chdir", "catch_workers_output",
	"decorate_workers_output", "clear_env", "security.limit_extensions",
	"apparmor_hat",
};

enum array_kind { A_ENV, A_VALUE, A_ADMIN_VALUE, A_FLAG, A_ADMIN_FLAG,
	A_SUPPRESS };

static const char *const array_names[] = {
	"env", "php_value", "php_admin_value", "php_flag", "php_admin_flag",
	"access.suppress_path",
};

/* The php_value names whose relative paths php-fpm puts under the prefix. */
static const char *const expand_ini[] = {
	"error_log", "extension_dir", "mime_magic.magicfile", "sendmail_path",
	"session.cookie_path", "session_pgsql.sem_file_name",
	"soap.wsdl_cache_dir", "uploadprogress.file.filename_template",
	"xdebug.output_dir", "xdebug.profiler_output_dir",
	"xdebug.trace_output_dir", "xmms.path", "axis2.client_home",
	"blenc.key_file", "coin_acceptor.device",
};

struct setting {
	char *value;		/* NULL: not set */
	char *raw;		/* as written */
	const char *file;
	int line;
};

struct array_item {
	enum array_kind kind;
	char *key;
	char *value;
	char *raw;		/* the value as written */
	const char *file;
	int line;
};

/* A comment to write: a note, or a directive that cannot be carried over. */
struct remark {
	bool dropped;
	char *text;
};

struct scope {
	struct remark *remarks;
	size_t nremarks;
};

struct fpool {
	char *name;
	const char *file;
	int line;
	struct setting opts[P_COUNT];
	struct array_item *items;
	size_t nitems;
	struct scope sc;
	char *prefix;		/* resolved, or NULL */
};

struct conv {
	const char *prefix;	/* php-fpm's -p, or NULL */
	struct setting gopts[G_COUNT];
	struct scope global;
	struct fpool **pools;
	size_t npools;
	struct fpool *cur;	/* NULL: [global] */
	char **files;
	size_t nfiles;
	const char *file;	/* being read */
	int line;
	int depth;
	char *include;		/* include= of the current line */
	char *error;
	struct text out;
	int dropped;
};

static void PRINTFLIKE(3, 4)
remark(struct scope *sc, bool dropped, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	sc->remarks = xreallocarray(sc->remarks, sc->nremarks + 1,
	    sizeof *sc->remarks);
	sc->remarks[sc->nremarks].dropped = dropped;
	sc->remarks[sc->nremarks++].text = s;
}

static struct scope *
cur_scope(struct conv *cv)
{
	return cv->cur != NULL ? &cv->cur->sc : &cv->global;
}

/* "name = value (file:line)" for a comment, the value as written. */
static char *
where(const char *name, const char *key, const char *value, const char *file,
    int line)
{
	char *v = display(value != NULL ? value : ""), *s;

	if (key != NULL) {
		char *k = display(key);
		xasprintf(&s, "%s[%s] = %s (%s:%d)", name, k, v, file, line);
		free(k);
	} else
		xasprintf(&s, "%s = %s (%s:%d)", name, v, file, line);
	free(v);
	return s;
}

static int
find_name(const char *const *names, int n, const char *name)
{
	int k;

	for (k = 0; k < n; k++)
		if (strcasecmp(names[k], name) == 0)
			return k;
	return -1;
}

static struct fpool *
find_pool(struct conv *cv, const char *name)
{
	size_t k;

	for (k = 0; k < cv->npools; k++)
		if (strcasecmp(cv->pools[k]->name, name) == 0)
			return cv->pools[k];
	return NULL;
}

/* ${VAR} markers replaced from our environment; *now set if any was. */
static char *
expand_env(const char *v, bool *now)
{
	struct text t = { 0 };
	const char *close, *e;
	char *name;

	for (; *v != '\0'; v++) {
		if (*v != ENV_OPEN || (close = strchr(v, ENV_CLOSE)) == NULL) {
			text_addc(&t, *v);
			continue;
		}
		name = xstrndup(v + 1, (size_t)(close - v - 1));
		if ((e = getenv(name)) != NULL)
			text_adds(&t, e);
		free(name);
		*now = true;
		v = close;
	}
	return text_take(&t);
}

static int
conv_stmt(struct lexer *lx, enum stmt_kind kind, char *name, char *key,
    char *value)
{
	struct conv *cv = lx->arg;
	struct fpool *p;
	struct setting *s;
	bool now = false;
	char *w, *n;
	int k;

	if (lx->env_now) {
		remark(cur_scope(cv), false, "%s:%d: ${...} names that are not environment variables were replaced by their values when converting",
		    cv->file, cv->line);
		lx->env_now = false;
	}
	if (lx->unknown_const != NULL) {
		remark(cur_scope(cv), false, "%s:%d: php-fpm replaces PHP constants in values; '%s' was kept as written",
		    cv->file, cv->line, lx->unknown_const);
		free(lx->unknown_const);
		lx->unknown_const = NULL;
	}
	switch (kind) {
	case STMT_SECTION:
		n = expand_env(name, &now);
		free(name);
		if (now)
			remark(cur_scope(cv), false, "%s:%d: environment variables in the section name [%s] were replaced by their values when converting",
			    cv->file, cv->line, n);
		if (strcasecmp(n, "global") == 0) {
			cv->cur = NULL;
			free(n);
			return 0;
		}
		if (*n == '\0') {
			lex_error(lx, "a section name cannot be empty");
			free(n);
			return -1;
		}
		if ((p = find_pool(cv, n)) == NULL) {
			p = xcalloc(1, sizeof *p);
			p->name = n;
			p->file = cv->file;
			p->line = cv->line;
			cv->pools = xreallocarray(cv->pools, cv->npools + 1,
			    sizeof *cv->pools);
			cv->pools[cv->npools++] = p;
		} else
			free(n);
		cv->cur = p;
		return 0;
	case STMT_ENTRY:
		if (strcmp(name, "include") == 0) {
			if (cv->include != NULL) {
				lex_error(lx, "two includes on one line");
				free(name);
				free(value);
				return -1;
			}
			cv->include = value;
			free(name);
			return 0;
		}
		if (cv->cur == NULL &&
		    (k = find_name(global_names, G_COUNT, name)) != -1)
			s = &cv->gopts[k];
		else if (cv->cur != NULL &&
		    (k = find_name(pool_names, P_COUNT, name)) != -1)
			s = &cv->cur->opts[k];
		else {
			w = where(name, NULL, lx->raw, cv->file, cv->line);
			remark(cur_scope(cv), true, "%s: php-fpm has no such %s directive and refuses it",
			    w, cv->cur != NULL ? "pool" : "global");
			free(w);
			free(name);
			free(value);
			return 0;
		}
		free(s->value);
		free(s->raw);
		s->value = value;
		s->raw = xstrdup(lx->raw);
		s->file = cv->file;
		s->line = cv->line;
		free(name);
		return 0;
	case STMT_ARRAY:
		for (k = 0; k < (int)(sizeof array_names / sizeof array_names[0]); k++)
			if (strcmp(array_names[k], name) == 0)
				break;
		w = where(name, key, lx->raw, cv->file, cv->line);
		if (k == (int)(sizeof array_names / sizeof array_names[0]))
			remark(cur_scope(cv), true, "%s: php-fpm has no such array and refuses it", w);
		else if (cv->cur == NULL)
			remark(cur_scope(cv), true, "%s: php-fpm refuses arrays in [global]", w);
		else if (k == A_SUPPRESS && (*key != '\0' || *value != '/'))
			remark(cur_scope(cv), true, "%s: php-fpm refuses it, it takes access.suppress_path[] = /path", w);
		else if (*key == '\0' && k != A_SUPPRESS)
			remark(cur_scope(cv), true, "%s: php-fpm refuses an empty key", w);
		else if (k == A_ENV && *value == '\0')
			remark(cur_scope(cv), true, "%s: php-fpm refuses an empty value", w);
		else if ((k == A_FLAG || k == A_ADMIN_FLAG) &&
		    strcmp(value, "1") != 0 && *value != '\0')
			remark(cur_scope(cv), true, "%s: php-fpm refuses it, a flag is on, off, yes, no, true, false, 1 or empty", w);
		else {
			p = cv->cur;
			p->items = xreallocarray(p->items, p->nitems + 1,
			    sizeof *p->items);
			p->items[p->nitems].kind = (enum array_kind)k;
			p->items[p->nitems].key = key;
			p->items[p->nitems].value = value;
			p->items[p->nitems].raw = xstrdup(lx->raw);
			p->items[p->nitems].file = cv->file;
			p->items[p->nitems++].line = cv->line;
			free(w);
			free(name);
			return 0;
		}
		free(w);
		free(name);
		free(key);
		free(value);
		return 0;
	}
	return 0;
}

static int conv_file(struct conv *, const char *);

static void PRINTFLIKE(2, 3)
conv_error(struct conv *cv, const char *fmt, ...)
{
	va_list ap;

	if (cv->error != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&cv->error, fmt, ap);
	va_end(ap);
}

/*
 * php-fpm's fpm_evaluate_full_path(): a relative path under the pool's
 * prefix, else php-fpm's -p, else dflt (or php-fpm's install prefix).
 */
static char *
full_path(const struct conv *cv, const struct fpool *p, const char *path,
    const char *dflt)
{
	const char *prefix;
	char *r;

	if (path[0] == '/')
		return xstrdup(path);
	if (p != NULL && p->prefix != NULL)
		prefix = p->prefix;
	else if (cv->prefix != NULL)
		prefix = cv->prefix;
	else
		prefix = dflt != NULL ? dflt : FPM_PREFIX;
	xasprintf(&r, "%s/%s", prefix, path);
	if (r[0] != '/' && p != NULL) {
		char *again = full_path(cv, NULL, r, dflt);
		free(r);
		return again;
	}
	return r;
}

/* include = pattern: read now, in the current section, as php-fpm does. */
static int
conv_include(struct conv *cv, char *pattern)
{
	const char *file = cv->file;
	int line = cv->line, rc;
	bool now = false;
	char *expanded = expand_env(pattern, &now), *path;
	glob_t g;
	size_t k;

	path = full_path(cv, NULL, expanded, NULL);
	if (now)
		remark(cur_scope(cv), false, "%s:%d: environment variables in include = %s were replaced by their values when converting",
		    file, line, expanded);
	if (strcmp(path, expanded) != 0)
		remark(cur_scope(cv), false, "%s:%d: include = %s read as %s: php-fpm puts relative paths under its prefix (%s)",
		    file, line, expanded, path,
		    cv->prefix != NULL ? cv->prefix : FPM_PREFIX);
	free(expanded);
	memset(&g, 0, sizeof g);
	rc = glob(path, GLOB_ERR | GLOB_MARK, NULL, &g);
	if (rc == GLOB_NOMATCH) {
		if (strpbrk(path, "*?[") == NULL)
			conv_error(cv, "%s:%d: include: %s: no such file", file,
			    line, path);
		else
			remark(cur_scope(cv), false, "%s:%d: include = %s matches no file (php-fpm warns and goes on)",
			    file, line, path);
		globfree(&g);
		free(path);
		return cv->error != NULL ? -1 : 0;
	}
	if (rc != 0) {
		conv_error(cv, "%s:%d: include: cannot read %s", file, line,
		    path);
		globfree(&g);
		free(path);
		return -1;
	}
	if (cv->depth >= FPM_MAX_NESTING) {
		conv_error(cv, "%s:%d: include: more than %d files nested (php-fpm's limit)",
		    file, line, FPM_MAX_NESTING);
		globfree(&g);
		free(path);
		return -1;
	}
	free(path);
	for (k = 0; k < g.gl_pathc; k++) {
		size_t n = strlen(g.gl_pathv[k]);
		if (n == 0 || g.gl_pathv[k][n - 1] == '/')
			continue;	/* php-fpm skips directories */
		if (conv_file(cv, g.gl_pathv[k]) == -1) {
			globfree(&g);
			return -1;
		}
	}
	globfree(&g);
	cv->file = file;
	cv->line = line;
	return 0;
}

/* One php-fpm file, line by line. */
static int
conv_file(struct conv *cv, const char *path)
{
	struct lexer lx;
	FILE *f;
	char *line = NULL, *pattern;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	const char *name;

	if ((f = fopen(path, "r")) == NULL) {
		if (cv->file != NULL)
			conv_error(cv, "%s:%d: include: %s: %s", cv->file,
			    cv->line, path, strerror(errno));
		else
			conv_error(cv, "%s: %s", path, strerror(errno));
		return -1;
	}
	cv->files = xreallocarray(cv->files, cv->nfiles + 1,
	    sizeof *cv->files);
	name = cv->files[cv->nfiles++] = xstrdup(path);
	cv->depth++;
	memset(&lx, 0, sizeof lx);
	lx.stmt = conv_stmt;
	lx.arg = cv;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		cv->file = name;
		cv->line = lineno;
		if (lex_line(&lx, line) == -1) {
			conv_error(cv, "%s:%d: %s", name, lineno,
			    lx.error != NULL ? lx.error : "syntax error");
			free(cv->include);
			cv->include = NULL;
			rc = -1;
			break;
		}
		if ((pattern = cv->include) != NULL) {
			cv->include = NULL;
			rc = conv_include(cv, pattern);
			free(pattern);
			if (rc == -1)
				break;
		}
	}
	if (rc == 0 && ferror(f)) {
		conv_error(cv, "%s: %s", name, strerror(errno));
		rc = -1;
	}
	free(lx.error);
	free(lx.unknown_const);
	free(lx.raw);
	free(line);
	fclose(f);
	cv->depth--;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Values: php-fpm's types in, pfpm's syntax out.                      */

/* fpm_conf_set_integer(): an optional '-' and digits ("" is 0). */
static int
fpm_int(const char *v, long *out)
{
	const char *p;
	long n = 0;
	bool neg = *v == '-';

	for (p = neg ? v + 1 : v; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (n < INT_MAX)
			n = n * 10 + (*p - '0');
	}
	if (n > INT_MAX)
		n = INT_MAX;
	*out = neg ? -n : n;
	return 0;
}

/* fpm_conf_set_time(): seconds; s, m, h or d, atoi() before it. */
static int
fpm_time(const char *v, long *out)
{
	size_t n = strlen(v);
	long mul = 1;
	char *copy;
	int c;

	if (n == 0)
		return -1;
	c = (unsigned char)v[n - 1];
	switch (c) {
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	case 's':
		break;
	default:
		if (!isdigit(c))
			return -1;
		n++;
		break;
	}
	copy = xstrndup(v, n - 1);
	*out = atol(copy) * mul;
	free(copy);
	return 0;
}

/* fpm_conf_set_boolean(): the reader made yes/on/true "1", no/off "". */
static int
fpm_bool(const char *v, bool *out)
{
	if (strcmp(v, "1") == 0)
		*out = true;
	else if (*v == '\0')
		*out = false;
	else
		return -1;
	return 0;
}

static char *
fmt_duration(long sec)
{
	char *s;

	if (sec == 0)
		s = xstrdup("0");
	else if (sec % 3600 == 0)
		xasprintf(&s, "%ldh", sec / 3600);
	else if (sec % 60 == 0)
		xasprintf(&s, "%ldm", sec / 60);
	else
		xasprintf(&s, "%lds", sec);
	return s;
}

/*
 * A value in libconfuse's syntax: bare when it is made of [A-Za-z0-9._/-]
 * (and holds no comment), else in double quotes with \ " and ${ escaped;
 * the markers become ${NAME} for pfpm to expand.
 */
static char *
quote(const char *v)
{
	struct text t = { 0 };
	const char *p;
	bool bare = *v != '\0' && strstr(v, "//") == NULL &&
	    strstr(v, "/*") == NULL;

	for (p = v; bare && *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._/-", *p) == NULL)
			bare = false;
	if (bare)
		return xstrdup(v);
	text_addc(&t, '"');
	for (p = v; *p != '\0'; p++) {
		switch (*p) {
		case ENV_OPEN:
			text_adds(&t, "${");
			break;
		case ENV_CLOSE:
			text_addc(&t, '}');
			break;
		case '"':
		case '\\':
			text_addc(&t, '\\');
			text_addc(&t, *p);
			break;
		case '$':
			if (p[1] == '{')
				text_addc(&t, '\\');
			text_addc(&t, '$');
			break;
		case '\n':
			text_adds(&t, "\\n");
			break;
		case '\r':
			text_adds(&t, "\\r");
			break;
		case '\t':
			text_adds(&t, "\\t");
			break;
		default:
			if (iscntrl((unsigned char)*p))
				text_printf(&t, "\\x%02x", (unsigned char)*p);
			else
				text_addc(&t, *p);
		}
	}
	text_addc(&t, '"');
	return text_take(&t);
}

/* php-fpm's $pool: the pool's name in place of every "$pool". */
static char *
expand_pool(const char *v, const char *pool)
{
	struct text t = { 0 };
	const char *m;

	while ((m = strstr(v, "$pool")) != NULL) {
		text_add(&t, v, (size_t)(m - v));
		text_adds(&t, pool);
		v = m + 5;
	}
	text_adds(&t, v);
	return text_take(&t);
}

/* ------------------------------------------------------------------ */
/* Writing the pfpm configuration.                                     */

struct emit {
	struct conv *cv;
	struct fpool *p;	/* NULL: the global section */
	const char *indent;
};

/* One output line: indent, a prefix, then the formatted text. */
static void PRINTFLIKE(3, 0)
out_vline(struct emit *e, const char *prefix, const char *fmt, va_list ap)
{
	char *s;

	xvasprintf(&s, fmt, ap);
	text_printf(&e->cv->out, "%s%s%s\n", e->indent, prefix, s);
	free(s);
}

static void PRINTFLIKE(2, 3)
out_line(struct emit *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vline(e, "", fmt, ap);
	va_end(ap);
}

static void PRINTFLIKE(2, 3)
out_note(struct emit *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vline(e, "# pfpm: note: ", fmt, ap);
	va_end(ap);
}

/* A directive left out: "name = value (file:line): why". */
static void PRINTFLIKE(3, 4)
out_drop(struct emit *e, const char *what, const char *fmt, ...)
{
	va_list ap;
	char *prefix;

	xasprintf(&prefix, "# pfpm: cannot carry over: %s: ", what);
	va_start(ap, fmt);
	out_vline(e, prefix, fmt, ap);
	va_end(ap);
	free(prefix);
	e->cv->dropped++;
}

static void
out_remarks(struct emit *e, struct scope *sc)
{
	size_t k;

	for (k = 0; k < sc->nremarks; k++) {
		char *d = display(sc->remarks[k].text);
		if (sc->remarks[k].dropped) {
			text_printf(&e->cv->out, "%s# pfpm: cannot carry over: %s\n",
			    e->indent, d);
			e->cv->dropped++;
		} else
			text_printf(&e->cv->out, "%s# pfpm: note: %s\n",
			    e->indent, d);
		free(d);
	}
}

/*
 * The value of a directive as php-fpm takes it: $pool expanded in a pool
 * (php-fpm refuses it outside one), ${VAR} now unless keep_env.  NULL
 * after writing why it cannot be carried over.
 */
static char *
value_of(struct emit *e, const char *name, const struct setting *s,
    bool keep_env)
{
	char *w = where(name, NULL, s->raw, s->file, s->line), *v;
	bool now = false;

	if (strstr(s->value, "$pool") != NULL && e->p == NULL) {
		out_drop(e, w, "php-fpm refuses $pool outside a pool");
		free(w);
		return NULL;
	}
	v = e->p != NULL ? expand_pool(s->value, e->p->name) :
	    xstrdup(s->value);
	if (!keep_env) {
		char *x = expand_env(v, &now);
		free(v);
		v = x;
		if (now)
			out_note(e, "%s: environment variables replaced by their values when converting (php-fpm reads them when it starts)",
			    w);
	}
	free(w);
	return v;
}

/* A string directive, same name and meaning in pfpm. */
static void
emit_str(struct emit *e, const char *name, const struct setting *s,
    bool keep_env)
{
	char *v = value_of(e, name, s, keep_env), *q;

	if (v == NULL)
		return;
	q = quote(v);
	out_line(e, "%s = %s", name, q);
	free(q);
	free(v);
}

/* pfpm's ranges (config.c's int_ranges) for the integers php-fpm has. */
/* Does v fit pfpm's range for this directive (the one config.c checks)? */
static bool
in_pfpm_range(const char *name, long v, long *min, long *max)
{
	if (!conf_int_range(name, min, max)) {
		*min = LONG_MIN;
		*max = LONG_MAX;
		return true;
	}
	return v >= *min && v <= *max;
}

static void
emit_int(struct emit *e, const char *name, const struct setting *s)
{
	char *v = value_of(e, name, s, false), *w;
	long n, min, max;

	if (v == NULL)
		return;
	w = where(name, NULL, s->raw, s->file, s->line);
	if (fpm_int(v, &n) == -1)
		out_drop(e, w, "php-fpm refuses it, it is not a number");
	else if (strcmp(name, "listen.backlog") == 0 && n > 65535) {
		out_note(e, "%s: pfpm takes at most 65535 (the kernel caps the backlog at net.core.somaxconn anyway)",
		    w);
		out_line(e, "%s = 65535", name);
	} else if (!in_pfpm_range(name, n, &min, &max))
		out_drop(e, w, "pfpm takes %ld to %ld", min, max);
	else
		out_line(e, "%s = %ld", name, n);
	free(w);
	free(v);
}

static void
emit_time(struct emit *e, const char *name, const struct setting *s)
{
	char *v = value_of(e, name, s, false), *w, *d;
	long sec;

	if (v == NULL)
		return;
	w = where(name, NULL, s->raw, s->file, s->line);
	if (fpm_time(v, &sec) == -1)
		out_drop(e, w, "php-fpm refuses it, durations are a number with s, m, h or d");
	else if (sec < 0)
		out_drop(e, w, "pfpm takes no negative durations");
	else {
		if (strcmp(name, "process_control_timeout") == 0 && sec == 0) {
			out_note(e, "%s: php-fpm's 0 sends SIGTERM at once on a graceful stop, pfpm's 0 would wait forever",
			    w);
			out_line(e, "%s = 1ms", name);
		} else {
			d = fmt_duration(sec);
			out_line(e, "%s = %s", name, d);
			free(d);
		}
	}
	free(w);
	free(v);
}

static void
emit_bool(struct emit *e, const char *name, const struct setting *s)
{
	char *v = value_of(e, name, s, false), *w;
	bool b;

	if (v == NULL)
		return;
	if (fpm_bool(v, &b) == -1) {
		w = where(name, NULL, s->raw, s->file, s->line);
		out_drop(e, w, "php-fpm refuses it, a boolean is yes, no, on, off, true, false, 1 or empty");
		free(w);
	} else
		out_line(e, "%s = %s", name, b ? "yes" : "no");
	free(v);
}

/* A path php-fpm resolves against its prefix; pfpm wants it absolute. */
static void
emit_path(struct emit *e, const char *name, const struct setting *s,
    const char *dflt)
{
	char *v = value_of(e, name, s, false), *full, *q, *w;

	if (v == NULL)
		return;
	full = full_path(e->cv, e->p, v, dflt);
	if (strcmp(full, v) != 0) {
		w = where(name, NULL, s->raw, s->file, s->line);
		out_note(e, "%s: relative path resolved against php-fpm's prefix as php-fpm does",
		    w);
		free(w);
	}
	q = quote(full);
	out_line(e, "%s = %s", name, q);
	free(q);
	free(full);
	free(v);
}

/*
 * rlimit_files and rlimit_core: php-fpm's 0 leaves the limit alone (pfpm's
 * rlimit_core = 0 would disable core files), -1 of rlimit_files is
 * RLIM_INFINITY.
 */
static void
emit_rlimit(struct emit *e, const char *name, const struct setting *s,
    const char *from)
{
	char *v = value_of(e, name, s, false), *w;
	bool core = strcmp(name, "rlimit_core") == 0;
	long n;

	if (v == NULL)
		return;
	w = where(name, NULL, s->raw, s->file, s->line);
	if (core && strcasecmp(v, "unlimited") == 0) {
		if (from != NULL)
			out_note(e, "%s: %s", w, from);
		out_line(e, "%s = unlimited", name);
	} else if (fpm_int(v, &n) == -1)
		out_drop(e, w, "php-fpm refuses it, it is not a number%s",
		    core ? " or 'unlimited'" : "");
	else if (n == 0)
		out_note(e, "%s: php-fpm's 0 leaves the limit as it is, so does leaving it out", w);
	else if (n < 0 && core)
		out_drop(e, w, "php-fpm refuses a negative rlimit_core");
	else if (n < -1)
		out_drop(e, w, "a negative limit other than -1 (unlimited) means nothing to pfpm");
	else {
		if (from != NULL)
			out_note(e, "%s: %s", w, from);
		if (n == -1)
			out_line(e, "%s = unlimited", name);
		else
			out_line(e, "%s = %ld", name, n);
	}
	free(w);
	free(v);
}

/* A directive pfpm does not have; no comment needed when it changes nothing. */
static void
emit_absent(struct emit *e, const char *name, const struct setting *s,
    const char *inert, const char *why)
{
	char *w = where(name, NULL, s->raw, s->file, s->line);

	if (inert != NULL)
		out_note(e, "%s: %s, nothing to carry over", w, inert);
	else
		out_drop(e, w, "%s", why);
	free(w);
}

/* Is s set to something other than "" (php-fpm's "not set")? */
static bool
set_nonempty(const struct setting *s)
{
	return s->value != NULL && *s->value != '\0';
}

/* A duration directive set to more than 0. */
static bool
time_nonzero(const struct setting *s)
{
	long sec;

	return s->value != NULL && fpm_time(s->value, &sec) == 0 && sec != 0;
}

static bool
value_is(const struct setting *s, const char *v)
{
	return s->value != NULL && strcasecmp(s->value, v) == 0;
}

/* listen: php-fpm's address forms, in the ones pfpm takes. */
static void
emit_listen(struct emit *e, const struct setting *s)
{
	char *v = value_of(e, "listen", s, false), *w, *addr = NULL, *cause;
	char *host = NULL, *q;
	const char *colon, *port;
	struct conf_listen l;
	struct addrinfo hints, *ai;
	char buf[INET6_ADDRSTRLEN];
	unsigned char a6[sizeof(struct in6_addr)];

	if (v == NULL)
		return;
	w = where("listen", NULL, s->raw, s->file, s->line);
	if (*v == '\0')
		out_drop(e, w, "php-fpm refuses an empty address");
	else if (strchr(v, ':') == NULL && v[strspn(v, "0123456789")] != '\0') {
		/* a unix socket */
		addr = full_path(e->cv, e->p, v, NULL);
		if (strcmp(addr, v) != 0)
			out_note(e, "%s: relative path resolved against php-fpm's prefix as php-fpm does", w);
	} else if (strchr(v, ':') == NULL) {
		out_note(e, "%s: php-fpm listens on IPv6 too when it can ([::]:%s); pfpm on IPv4 only unless given [::]:%s",
		    w, v, v);
		addr = xstrdup(v);
	} else {
		colon = strrchr(v, ':');
		port = colon + 1;
		host = xstrndup(v, (size_t)(colon - v));
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		if (inet_pton(AF_INET6, host, a6) == 1)
			xasprintf(&addr, "[%s]:%s", host, port);
		else if (inet_pton(AF_INET, host, a6) == 1 || *host == '\0' ||
		    strcmp(host, "*") == 0 || strcmp(host, "localhost") == 0)
			addr = xstrdup(v);
		else {
			memset(&hints, 0, sizeof hints);
			hints.ai_family = AF_UNSPEC;
			hints.ai_socktype = SOCK_STREAM;
			if (getaddrinfo(host, NULL, &hints, &ai) == 0) {
				if (ai->ai_family == AF_INET6) {
					inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
					    (void *)ai->ai_addr)->sin6_addr, buf,
					    sizeof buf);
					xasprintf(&addr, "[%s]:%s", buf, port);
				} else {
					inet_ntop(AF_INET, &((struct sockaddr_in *)
					    (void *)ai->ai_addr)->sin_addr, buf,
					    sizeof buf);
					xasprintf(&addr, "%s:%s", buf, port);
				}
				freeaddrinfo(ai);
				out_note(e, "%s: pfpm takes numeric addresses: %s resolved when converting (php-fpm resolves it when it starts)",
				    w, host);
			} else
				out_drop(e, w, "pfpm takes numeric addresses and %s does not resolve",
				    host);
		}
	}
	if (addr != NULL) {
		if (conf_parse_listen(addr, &l, &cause) == -1) {
			out_drop(e, w, "pfpm refuses it: %s", cause);
			free(cause);
		} else {
			free(l.path);
			free(l.host);
			q = quote(addr);
			out_line(e, "listen = %s", q);
			free(q);
		}
	}
	free(host);
	free(addr);
	free(w);
	free(v);
}

static void
emit_global(struct conv *cv)
{
	struct emit e = { cv, NULL, "" };
	struct setting *g = cv->gopts;
	bool syslog_log = value_is(&g[G_ERROR_LOG], "syslog");
	char *w, *v;
	int k;

	out_remarks(&e, &cv->global);
	for (k = 0; k < G_COUNT; k++) {
		struct setting *s = &g[k];
		const char *name = global_names[k];

		if (s->value == NULL) {
			if (k == G_ERROR_LOG) {
				v = full_path(cv, NULL, "log/php-fpm.log",
				    FPM_STATEDIR);
				out_note(&e, "php-fpm's default error_log");
				out_line(&e, "error_log = %s", v);
				free(v);
			} else if (k == G_PCT) {
				out_note(&e, "php-fpm's process_control_timeout defaults to 0, which sends SIGTERM at once on a graceful stop; pfpm's 0 would wait forever");
				out_line(&e, "process_control_timeout = 1ms");
			}
			continue;
		}
		w = where(name, NULL, s->raw, s->file, s->line);
		switch (k) {
		case G_PID:
			emit_path(&e, name, s, FPM_STATEDIR);
			break;
		case G_ERROR_LOG:
			if (syslog_log)
				out_line(&e, "error_log = syslog");
			else
				emit_path(&e, name, s, FPM_STATEDIR);
			break;
		case G_SYSLOG_IDENT:
			if (!syslog_log)
				emit_absent(&e, name, s, "error_log is not syslog", NULL);
			else
				emit_absent(&e, name, s, NULL, "pfpm logs to syslog as \"pfpm\"");
			break;
		case G_SYSLOG_FACILITY:
			if (!syslog_log)
				emit_absent(&e, name, s, "error_log is not syslog", NULL);
			else
				emit_absent(&e, name, s, value_is(s, "daemon") ?
				    "pfpm logs to the daemon facility too" : NULL,
				    "pfpm logs to syslog's daemon facility");
			break;
		case G_LOG_BUFFERING:
			emit_absent(&e, name, s, value_is(s, "1") ?
			    "pfpm logs worker output line by line, as php-fpm's default" : NULL,
			    "pfpm logs worker output line by line");
			break;
		case G_LOG_LEVEL:
			if ((v = value_of(&e, name, s, false)) == NULL)
				break;
			if (strcasecmp(v, "warn") == 0)
				out_line(&e, "log_level = warning");
			else if (log_parse_level(v) != -1) {
				for (char *p = v; *p != '\0'; p++)
					*p = (char)tolower((unsigned char)*p);
				out_line(&e, "log_level = %s", v);
			} else
				out_drop(&e, w, "php-fpm refuses it: alert, error, warning, notice or debug");
			free(v);
			break;
		case G_LOG_LIMIT:
			emit_absent(&e, name, s, value_is(s, "1024") ?
			    "php-fpm's default" : NULL,
			    "pfpm has no log line limit");
			break;
		case G_ERT:
		case G_PROCESS_MAX:
			emit_int(&e, name, s);
			break;
		case G_ERI:
		case G_PCT:
			emit_time(&e, name, s);
			break;
		case G_PRIORITY:
			emit_absent(&e, name, s, NULL, "pfpm does not change its priority");
			break;
		case G_DAEMONIZE:
			emit_bool(&e, name, s);
			break;
		case G_RLIMIT_FILES:
		case G_RLIMIT_CORE:
			out_note(&e, "%s: pfpm sets it per pool: written in each pool that does not set its own", w);
			break;
		case G_EVENTS:
			emit_absent(&e, name, s, value_is(s, "epoll") ?
			    "pfpm uses epoll" : NULL, "pfpm uses epoll");
			break;
		case G_SYSTEMD_INTERVAL:
			emit_absent(&e, name, s, value_is(s, "10") ?
			    "php-fpm's default" : NULL,
			    "pfpm sends systemd no periodic status");
			break;
		}
		free(w);
	}
	out_note(&e, "php-fpm reads php.ini from its -c option, else from its own directory (/etc/php/8.2/fpm/php.ini on Debian); pfpm reads the one set with php_ini, for instance:");
	text_adds(&cv->out, "# php_ini = /etc/php/8.2/fpm/php.ini\n");
	out_note(&e, "php-fpm always applies the PHP_VALUE and PHP_ADMIN_VALUE parameters a web server sends; pfpm only in pools with fastcgi.allow_php_value = yes");
}

/* The first of each key wins: php-fpm applies its list from the last. */
static bool
earlier_key(const struct fpool *p, size_t k, bool admin)
{
	size_t j;

	for (j = 0; j < k; j++) {
		const struct array_item *a = &p->items[j];
		bool a_admin = a->kind == A_ADMIN_VALUE || a->kind == A_ADMIN_FLAG;
		if (a->kind == A_ENV || a->kind == A_SUPPRESS ||
		    a_admin != admin)
			continue;
		if (strcmp(a->key, p->items[k].key) == 0)
			return true;
	}
	return false;
}

static bool
earlier_env(const struct fpool *p, size_t k)
{
	size_t j;

	for (j = 0; j < k; j++)
		if (p->items[j].kind == A_ENV &&
		    strcmp(p->items[j].key, p->items[k].key) == 0)
			return true;
	return false;
}

/* env[NAME] = value; "$NAME" is php-fpm's "from the environment". */
static void
emit_env(struct emit *e)
{
	struct fpool *p = e->p;
	struct text list = { 0 };
	size_t k, n = 0;
	char *w, *v, *entry, *q, *name;
	const char *x;
	bool now;

	for (k = 0; k < p->nitems; k++) {
		struct array_item *a = &p->items[k];
		if (a->kind != A_ENV)
			continue;
		w = where("env", a->key, a->raw, a->file, a->line);
		now = false;
		name = expand_env(a->key, &now);
		v = expand_pool(a->value, p->name);
		entry = NULL;
		if (now)
			out_note(e, "%s: environment variables in the name replaced when converting", w);
		if (earlier_env(p, k))
			out_note(e, "%s: the first env[%s] wins, as in php-fpm", w, name);
		else if (strchr(name, '=') != NULL)
			out_drop(e, w, "an environment variable name cannot hold '='");
		else if (v[0] != '$')
			xasprintf(&entry, "%s=%s", name, v);
		else if (env_name(v + 1, strlen(v + 1)))
			/* php-fpm: getenv() of what follows the '$', at start */
			xasprintf(&entry, "%s=%c%s%c", name, ENV_OPEN, v + 1,
			    ENV_CLOSE);
		else {
			x = getenv(v + 1);
			out_note(e, "%s: '%s' is not a variable name: its value (\"%s\") taken when converting",
			    w, v + 1, x != NULL ? x : "");
			xasprintf(&entry, "%s=%s", name, x != NULL ? x : "");
		}
		if (entry != NULL) {
			q = quote(entry);
			text_printf(&list, "%s%s    %s", n++ > 0 ? ",\n" : "",
			    e->indent, q);
			free(q);
			free(entry);
		}
		free(name);
		free(v);
		free(w);
	}
	if (n > 0) {
		out_line(e, "env = {");
		text_printf(&e->cv->out, "%s\n%s}\n", list.s, e->indent);
	}
	free(list.s);
}

static bool
expand_ini_key(const char *key)
{
	size_t k;

	for (k = 0; k < sizeof expand_ini / sizeof expand_ini[0]; k++)
		if (strcasecmp(expand_ini[k], key) == 0)
			return true;
	return false;
}

/*
 * php_value/php_flag (one list in php-fpm) or php_admin_value/
 * php_admin_flag: each key once, in the section of the entry that wins.
 */
static void
emit_php(struct emit *e, bool admin)
{
	struct fpool *p = e->p;
	enum array_kind kinds[2];
	const char *names[2];
	struct text body[2] = { { 0 }, { 0 } };
	size_t k;
	int j;
	char *w, *v, *key, *qk, *qv, *x;
	bool now;

	kinds[0] = admin ? A_ADMIN_VALUE : A_VALUE;
	kinds[1] = admin ? A_ADMIN_FLAG : A_FLAG;
	names[0] = admin ? "php_admin_value" : "php_value";
	names[1] = admin ? "php_admin_flag" : "php_flag";
	for (k = 0; k < p->nitems; k++) {
		struct array_item *a = &p->items[k];
		if (a->kind != kinds[0] && a->kind != kinds[1])
			continue;
		j = a->kind == kinds[0] ? 0 : 1;
		w = where(names[j], a->key, a->raw, a->file, a->line);
		now = false;
		key = expand_env(a->key, &now);
		if (now)
			out_note(e, "%s: environment variables in the name replaced when converting", w);
		if (earlier_key(p, k, admin)) {
			out_note(e, "%s: the first %s[%s] wins, as in php-fpm",
			    w, names[0], key);
			free(key);
			free(w);
			continue;
		}
		if (j == 1)
			v = xstrdup(strcmp(a->value, "1") == 0 ? "on" : "off");
		else {
			v = expand_pool(a->value, p->name);
			if (expand_ini_key(key) &&
			    p->opts[P_CHROOT].value == NULL &&
			    !(admin && strcasecmp(key, "error_log") == 0 &&
			    strcasecmp(v, "syslog") == 0)) {
				now = false;
				x = expand_env(v, &now);
				free(v);
				v = full_path(e->cv, p, x, NULL);
				if (strcmp(v, x) != 0 || now)
					out_note(e, "%s: a relative path, resolved against php-fpm's prefix as php-fpm does", w);
				free(x);
			}
		}
		qk = quote(key);
		qv = j == 1 ? xstrdup(v) : quote(v);
		text_printf(&body[j], "%s    %s = %s\n", e->indent, qk, qv);
		free(qk);
		free(qv);
		free(v);
		free(key);
		free(w);
	}
	for (j = 0; j < 2; j++) {
		if (body[j].s == NULL)
			continue;
		out_line(e, "%s {", names[j]);
		text_adds(&e->cv->out, body[j].s);
		out_line(e, "}");
		free(body[j].s);
	}
}

/* php-fpm's rule for pm.status_path and ping.path. */
static bool
url_path(const char *v)
{
	if (v[0] != '/' || strlen(v) < 2)
		return false;
	for (; *v != '\0'; v++)
		if (!isalnum((unsigned char)*v) && strchr("/_-.~", *v) == NULL)
			return false;
	return true;
}

/* access.suppress_path[] = /path: a list, when there is an access log. */
static void
emit_suppress(struct emit *e, bool logs)
{
	struct fpool *p = e->p;
	struct text list = { 0 };
	size_t k, n = 0;
	char *w, *q;

	for (k = 0; k < p->nitems; k++) {
		struct array_item *a = &p->items[k];
		if (a->kind != A_SUPPRESS)
			continue;
		if (!logs) {
			w = where("access.suppress_path", a->key, a->raw,
			    a->file, a->line);
			out_note(e, "%s: no effect without access.log, nothing to carry over", w);
			free(w);
			continue;
		}
		q = quote(a->value);
		text_printf(&list, "%s%s    %s", n++ > 0 ? ",\n" : "",
		    e->indent, q);
		free(q);
	}
	if (n > 0) {
		out_line(e, "access.suppress_path = {");
		text_printf(&e->cv->out, "%s\n%s}\n", list.s, e->indent);
	}
	free(list.s);
}

static void
emit_pool(struct conv *cv, struct fpool *p)
{
	struct emit e = { cv, p, "    " };
	struct setting *o = p->opts, *s;
	char *w, *v, *title;
	bool b, logs = set_nonempty(&o[P_ACCESS_LOG]);
	bool slow = time_nonzero(&o[P_SLOWLOG_TIMEOUT]);
	int i;

	title = display(p->name);
	text_printf(&cv->out, "\n# [%s] from %s:%d\n", title, p->file,
	    p->line);
	free(title);
	title = quote(p->name);
	text_printf(&cv->out, "pool %s {\n", title);
	free(title);
	out_remarks(&e, &p->sc);
	if (o[P_PM].value == NULL)
		out_note(&e, "php-fpm refuses a pool without pm; pfpm's default is dynamic");
	if (o[P_MAX_CHILDREN].value == NULL)
		out_note(&e, "php-fpm refuses a pool without pm.max_children; pfpm's default is 5");
	if (o[P_LISTEN].value == NULL)
		out_note(&e, "php-fpm and pfpm refuse a pool without listen");
	for (i = 0; i < P_COUNT; i++) {
		const char *name = pool_names[i];
		s = &o[i];
		if (i == P_RLIMIT_FILES || i == P_RLIMIT_CORE) {
			struct setting *gs = &cv->gopts[i == P_RLIMIT_FILES ?
			    G_RLIMIT_FILES : G_RLIMIT_CORE];
			struct emit ge = { cv, NULL, "    " };
			long n;

			if (s->value != NULL)
				emit_rlimit(&e, name, s, NULL);
			if (gs->value != NULL && (s->value == NULL ||
			    (fpm_int(s->value, &n) == 0 && n == 0)))
				emit_rlimit(&ge, name, gs,
				    "php-fpm's global limit, which pfpm sets per pool");
			continue;
		}
		if (s->value == NULL)
			continue;
		w = where(name, NULL, s->raw, s->file, s->line);
		switch (i) {
		case P_PREFIX:
			if (p->prefix != NULL)
				out_note(&e, "%s: relative paths of this pool resolved under %s",
				    w, p->prefix);
			else
				out_note(&e, "%s: empty, nothing to carry over", w);
			break;
		case P_USER:
		case P_GROUP:
		case P_OWNER:
		case P_LGROUP:
		case P_ALLOWED:
		case P_LIMIT_EXT:
			emit_str(&e, name, s, true);
			break;
		case P_LISTEN:
			emit_listen(&e, s);
			break;
		case P_BACKLOG:
		case P_MAX_CHILDREN:
		case P_START:
		case P_MIN_SPARE:
		case P_MAX_SPARE:
		case P_SPAWN_RATE:
		case P_MAX_REQUESTS:
			emit_int(&e, name, s);
			break;
		case P_MODE:
			if ((v = value_of(&e, name, s, false)) == NULL)
				break;
			if (*v == '\0' || v[strspn(v, "01234567")] != '\0')
				out_drop(&e, w, "pfpm takes an octal mode, such as 0660");
			else
				out_line(&e, "listen.mode = %s", v);
			free(v);
			break;
		case P_PM:
			if ((v = value_of(&e, name, s, false)) == NULL)
				break;
			if (strcasecmp(v, "static") == 0 ||
			    strcasecmp(v, "dynamic") == 0 ||
			    strcasecmp(v, "ondemand") == 0) {
				for (char *c = v; *c != '\0'; c++)
					*c = (char)tolower((unsigned char)*c);
				out_line(&e, "pm = %s", v);
			} else
				out_drop(&e, w, "php-fpm refuses it: static, dynamic or ondemand");
			free(v);
			break;
		case P_IDLE_TIMEOUT:
		case P_TERMINATE:
			emit_time(&e, name, s);
			break;
		case P_CHDIR:
			emit_path(&e, name, s, NULL);
			break;
		case P_CATCH:
		case P_DECORATE:
		case P_CLEAR_ENV:
			emit_bool(&e, name, s);
			break;
		case P_ACL_USERS:
		case P_ACL_GROUPS:
			emit_absent(&e, name, s, set_nonempty(s) ? NULL :
			    "empty", "pfpm sets no POSIX ACL on the socket");
			break;
		case P_PRIORITY:
			emit_absent(&e, name, s, NULL, "pfpm does not change its workers' priority");
			break;
		case P_DUMPABLE:
			if (fpm_bool(s->value, &b) == -1)
				out_drop(&e, w, "php-fpm refuses it, a boolean is yes or no");
			else
				emit_absent(&e, name, s, b ?
				    "pfpm makes every worker dumpable" :
				    "php-fpm's default; pfpm makes every worker dumpable", NULL);
			break;
		case P_STATUS_PATH:
		case P_PING_PATH:
			if (!set_nonempty(s))
				emit_absent(&e, name, s, "empty", NULL);
			else if ((v = value_of(&e, name, s, false)) != NULL) {
				if (!url_path(v))
					out_drop(&e, w, "php-fpm refuses it: a path of at least 2 characters, starting with '/', made of letters, digits and /_-.~");
				else
					out_line(&e, "%s = %s", name, v);
				free(v);
			}
			break;
		case P_STATUS_LISTEN:
			emit_absent(&e, name, s, set_nonempty(s) ? NULL : "empty",
			    "pfpm answers the status page on the pool's own socket only");
			break;
		case P_PING_RESPONSE:
			if (!set_nonempty(&o[P_PING_PATH]))
				emit_absent(&e, name, s, "no effect without ping.path", NULL);
			else if (*s->value == '\0')
				out_drop(&e, w, "php-fpm refuses an empty ping.response");
			else
				emit_str(&e, name, s, false);
			break;
		case P_ACCESS_LOG:
			if (logs)
				emit_path(&e, name, s, NULL);
			else
				emit_absent(&e, name, s, "empty", NULL);
			break;
		case P_ACCESS_FORMAT:
			if (!logs)
				emit_absent(&e, name, s, "no effect without access.log", NULL);
			else if ((v = value_of(&e, name, s, true)) != NULL) {
				char *why = NULL, *x;
				bool now = false;
				x = expand_env(v, &now);
				if (accesslog_check(x, &why) == -1)
					out_drop(&e, w, "pfpm refuses it: %s", why);
				else
					emit_str(&e, name, s, true);
				free(why);
				free(x);
				free(v);
			}
			break;
		case P_SLOWLOG:
			if (slow)
				emit_path(&e, name, s, NULL);
			else
				emit_absent(&e, name, s,
				    "no effect without request_slowlog_timeout", NULL);
			break;
		case P_SLOWLOG_TIMEOUT:
			if (slow)
				emit_time(&e, name, s);
			else
				emit_absent(&e, name, s, "off", NULL);
			break;
		case P_TRACE_DEPTH:
			if (slow)
				emit_int(&e, name, s);
			else
				emit_absent(&e, name, s,
				    "no effect without request_slowlog_timeout", NULL);
			break;
		case P_TRACK_FINISHED:
			emit_bool(&e, name, s);
			break;
		case P_CHROOT:
			emit_absent(&e, name, s, set_nonempty(s) ? NULL : "empty",
			    "set it by hand once the paths in this config are inside it (same meaning in pfpm)");
			break;
		case P_APPARMOR:
			emit_absent(&e, name, s, set_nonempty(s) ? NULL : "empty",
			    "pfpm does not change AppArmor hats");
			break;
		}
		free(w);
	}
	if (p->opts[P_LIMIT_EXT].value != NULL &&
	    strchr(p->opts[P_LIMIT_EXT].value, ',') != NULL)
		out_note(&e, "php-fpm separates security.limit_extensions with blanks only, pfpm with commas too");
	emit_env(&e);
	emit_php(&e, false);
	emit_php(&e, true);
	emit_suppress(&e, logs);
	text_adds(&cv->out, "}\n");
}

static void
scope_free(struct scope *sc)
{
	size_t k;

	for (k = 0; k < sc->nremarks; k++)
		free(sc->remarks[k].text);
	free(sc->remarks);
}

static void
conv_free(struct conv *cv)
{
	size_t k, j;
	int i;

	for (i = 0; i < G_COUNT; i++) {
		free(cv->gopts[i].value);
		free(cv->gopts[i].raw);
	}
	scope_free(&cv->global);
	for (k = 0; k < cv->npools; k++) {
		struct fpool *p = cv->pools[k];
		for (i = 0; i < P_COUNT; i++) {
			free(p->opts[i].value);
			free(p->opts[i].raw);
		}
		for (j = 0; j < p->nitems; j++) {
			free(p->items[j].key);
			free(p->items[j].value);
			free(p->items[j].raw);
		}
		free(p->items);
		scope_free(&p->sc);
		free(p->prefix);
		free(p->name);
		free(p);
	}
	free(cv->pools);
	for (k = 0; k < cv->nfiles; k++)
		free(cv->files[k]);
	free(cv->files);
	free(cv->include);
	free(cv->error);
	free(cv->out.s);
}

/*
 * Convert php-fpm's configuration files (each read from [global], as if
 * one followed the other) into one pfpm configuration in *out.  prefix is
 * php-fpm's -p (NULL: none).  Returns the number of directives that could
 * not be carried over, or -1 with *cause ("file:line: why").
 */
int
fpmconf_convert(char *const *files, size_t nfiles, const char *prefix,
    char **out, char **cause)
{
	struct conv cv;
	struct text head = { 0 };
	size_t k;
	int rc;

	memset(&cv, 0, sizeof cv);
	cv.prefix = prefix;
	for (k = 0; k < nfiles; k++) {
		cv.cur = NULL;
		cv.file = NULL;
		if (conv_file(&cv, files[k]) == -1) {
			*cause = cv.error;
			cv.error = NULL;
			conv_free(&cv);
			return -1;
		}
	}
	if (cv.npools == 0) {
		*cause = xstrdup(nfiles > 0 ? "no pool section: php-fpm needs at least one [pool]" :
		    "no file to convert");
		conv_free(&cv);
		return -1;
	}
	for (k = 0; k < cv.npools; k++) {
		struct fpool *p = cv.pools[k];
		struct setting *s = &p->opts[P_PREFIX];
		if (s->value != NULL && *s->value != '\0') {
			bool now = false;
			char *a = expand_pool(s->value, p->name);
			char *b = expand_env(a, &now);
			p->prefix = full_path(&cv, NULL, b, NULL);
			free(a);
			free(b);
		}
	}
	text_adds(&head, "# pfpm configuration converted from php-fpm's by pfpm --convert-fpm:\n");
	for (k = 0; k < cv.nfiles; k++)
		text_printf(&head, "#   %s\n", cv.files[k]);
	text_adds(&head, "# Lines marked \"pfpm: cannot carry over\" are php-fpm directives that pfpm\n"
	    "# does not have (or that php-fpm refuses); \"pfpm: note\" lines explain\n"
	    "# the other differences.\n\n");
	text_adds(&cv.out, head.s);
	free(head.s);
	emit_global(&cv);
	for (k = 0; k < cv.npools; k++)
		emit_pool(&cv, cv.pools[k]);
	rc = cv.dropped;
	*out = text_take(&cv.out);
	conv_free(&cv);
	return rc;
}
