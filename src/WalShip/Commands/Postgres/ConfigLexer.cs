using System.Text;

namespace WalShip.Commands.Postgres;

internal enum TokenKind
{
    End,
    EndOfLine,
    Id,
    QualifiedId,
    String,
    UnquotedString,
    Integer,
    Real,
    EqualsSign,
    Error,
}

/// <summary>A token: its kind, where its bytes are, and the line it starts on.</summary>
internal readonly record struct Token(TokenKind Kind, int Start, int Length, int Line);

/// <summary>
/// The tokens of a PostgreSQL configuration file, as guc-file.l's flex rules produce them: at each position the
/// longest match wins, and among equally long matches the earlier rule (ID, QUALIFIED_ID, STRING,
/// UNQUOTED_STRING, INTEGER, REAL, '='). Works on bytes, as the server does: bytes 0x80-0xFF count as letters.
/// </summary>
internal sealed class ConfigLexer(byte[] text)
{
    private int _position;
    private int _line = 1;

    public Token Next()
    {
        while (_position < text.Length)
        {
            byte c = text[_position];
            if (c is (byte)' ' or (byte)'\t' or (byte)'\r')
            {
                _position++;
            }
            else if (c == (byte)'#')
            {
                while (_position < text.Length && text[_position] != (byte)'\n')
                    _position++;
            }
            else
            {
                break;
            }
        }
        if (_position >= text.Length)
            return new Token(TokenKind.End, _position, 0, _line);
        if (text[_position] == (byte)'\n')
            return new Token(TokenKind.EndOfLine, _position++, 1, _line++);

        var (kind, length) = LongestMatch(_position);
        var token = new Token(kind, _position, length, _line);
        _position += length;
        return token;
    }

    public string Text(Token token) => Encoding.UTF8.GetString(text, token.Start, token.Length);

    /// <summary>A quoted value without its quotes, escapes resolved: '' and \' for a quote, \b \f \n \r \t,
    /// up to three octal digits for a byte, and a backslash before anything else stands for that character.</summary>
    public string Unquote(Token token)
    {
        var bytes = new List<byte>(token.Length);
        int end = token.Start + token.Length - 1;
        for (int i = token.Start + 1; i < end; i++)
        {
            byte c = text[i];
            if (c == (byte)'\\')
            {
                c = text[++i];
                switch (c)
                {
                    case (byte)'b': bytes.Add((byte)'\b'); break;
                    case (byte)'f': bytes.Add((byte)'\f'); break;
                    case (byte)'n': bytes.Add((byte)'\n'); break;
                    case (byte)'r': bytes.Add((byte)'\r'); break;
                    case (byte)'t': bytes.Add((byte)'\t'); break;
                    case >= (byte)'0' and <= (byte)'7':
                        int value = 0, digits = 0;
                        while (digits < 3 && i + digits < end && text[i + digits] is >= (byte)'0' and <= (byte)'7')
                            value = (value << 3) + (text[i + digits++] - '0');
                        i += digits - 1;
                        bytes.Add((byte)value);
                        break;
                    default: bytes.Add(c); break;
                }
            }
            else if (c == (byte)'\'' && text[i + 1] == (byte)'\'')
            {
                bytes.Add(text[++i]);
            }
            else
            {
                bytes.Add(c);
            }
        }
        // The server keeps values as C strings: an octal \0 ends the value there.
        int nul = bytes.IndexOf(0);
        if (nul >= 0)
            bytes.RemoveRange(nul, bytes.Count - nul);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private (TokenKind Kind, int Length) LongestMatch(int at)
    {
        (TokenKind Kind, int Length) best = (TokenKind.Error, 0);
        void Consider(TokenKind kind, int length)
        {
            if (length > best.Length)
                best = (kind, length);
        }
        Consider(TokenKind.Id, MatchId(at));
        Consider(TokenKind.QualifiedId, MatchQualifiedId(at));
        Consider(TokenKind.String, MatchString(at));
        Consider(TokenKind.UnquotedString, MatchUnquoted(at));
        Consider(TokenKind.Integer, MatchInteger(at));
        Consider(TokenKind.Real, MatchReal(at));
        Consider(TokenKind.EqualsSign, text[at] == (byte)'=' ? 1 : 0);
        return best.Length == 0 ? (TokenKind.Error, 1) : best;
    }

    private byte At(int index) => index < text.Length ? text[index] : (byte)0;

    private static bool IsLetter(byte c) => c is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or (byte)'_' or >= 0x80;

    private static bool IsLetterOrDigit(byte c) => IsLetter(c) || IsDigit(c);

    private static bool IsDigit(byte c) => c is >= (byte)'0' and <= (byte)'9';

    private static bool IsHexDigit(byte c) => IsDigit(c) || c is >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    private static bool IsUnitLetter(byte c) => c is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z';

    private int MatchId(int at)
    {
        if (!IsLetter(At(at)))
            return 0;
        int i = at + 1;
        while (IsLetterOrDigit(At(i)))
            i++;
        return i - at;
    }

    private int MatchQualifiedId(int at)
    {
        int first = MatchId(at);
        if (first == 0 || At(at + first) != (byte)'.')
            return 0;
        int second = MatchId(at + first + 1);
        return second == 0 ? 0 : first + 1 + second;
    }

    private int MatchUnquoted(int at)
    {
        if (!IsLetter(At(at)))
            return 0;
        int i = at + 1;
        while (IsLetterOrDigit(At(i)) || At(i) is (byte)'-' or (byte)'.' or (byte)'_' or (byte)':' or (byte)'/')
            i++;
        return i - at;
    }

    /// <summary>'...' with '' and backslash-anything (but a newline) inside. A quote followed by a quote may end
    /// the string or be an escaped quote; the longest reading wins.</summary>
    private int MatchString(int at)
    {
        if (At(at) != (byte)'\'')
            return 0;
        int longest = 0;
        int i = at + 1;
        while (i < text.Length)
        {
            byte c = text[i];
            if (c == (byte)'\n')
                break;
            if (c == (byte)'\\')
            {
                if (i + 1 >= text.Length || text[i + 1] == (byte)'\n')
                    break;
                i += 2;
            }
            else if (c == (byte)'\'')
            {
                longest = i + 1 - at;
                if (At(i + 1) != (byte)'\'')
                    break;
                i += 2;
            }
            else
            {
                i++;
            }
        }
        return longest;
    }

    private int MatchInteger(int at)
    {
        int start = At(at) is (byte)'+' or (byte)'-' ? at + 1 : at;
        int best = 0;
        int i = start;
        while (IsDigit(At(i)))
            i++;
        if (i > start)
            best = Units(i) - at;
        if (At(start) == (byte)'0' && At(start + 1) == (byte)'x' && IsHexDigit(At(start + 2)))
        {
            i = start + 2;
            while (IsHexDigit(At(i)))
                i++;
            best = Math.Max(best, Units(i) - at);
        }
        return best;

        int Units(int from)
        {
            while (IsUnitLetter(At(from)))
                from++;
            return from;
        }
    }

    private int MatchReal(int at)
    {
        int i = At(at) is (byte)'+' or (byte)'-' ? at + 1 : at;
        while (IsDigit(At(i)))
            i++;
        if (At(i) != (byte)'.')
            return 0;
        i++;
        while (IsDigit(At(i)))
            i++;
        if (At(i) is (byte)'e' or (byte)'E')
        {
            int exponent = i + 1;
            if (At(exponent) is (byte)'+' or (byte)'-')
                exponent++;
            if (IsDigit(At(exponent)))
            {
                while (IsDigit(At(exponent)))
                    exponent++;
                i = exponent;
            }
        }
        return i - at;
    }
}
