package proxy

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxReplay bounds what clientBody keeps of a streamed request body so that
// the request can be sent again on a new connection (see roundTrip).
const maxReplay = 64 << 10

// clientBody is the client's request body on its way upstream. It pushes the
// server's read deadline readTimeout ahead before each read (so ReadTimeout
// bounds a stall, not the whole upload) and remembers a failed read, which is
// the client's fault and not the upstream's. A body that ends before its
// Content-Length is such a failure (fasthttp's server stream reports a plain
// io.EOF for it).
//
// It also keeps the first maxReplay bytes it has read, so that a request whose
// connection failed before any answer can be sent again whole: rewind makes
// the next reads return the kept bytes and then go on with the client's
// stream. Once more than maxReplay bytes have been read, nothing is kept and
// the request cannot be sent again.
type clientBody struct {
	stream      io.Reader
	fctx        *fasthttp.RequestCtx
	readTimeout time.Duration
	size        int64 // Content-Length, or -1
	read        int64 // from the client
	err         error

	kept    *[]byte // the bytes read so far; nil once over maxReplay
	replay  int     // next kept byte to return after a rewind
	tooLong bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.kept != nil && b.replay < len(*b.kept) {
		n := copy(p, (*b.kept)[b.replay:])
		b.replay += n
		return n, nil
	}
	if b.readTimeout > 0 {
		_ = b.fctx.SetReadDeadline(time.Now().Add(b.readTimeout))
	}
	n, err := b.stream.Read(p)
	b.read += int64(n)
	b.keep(p[:n])
	if err == io.EOF && b.size >= 0 && b.read < b.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// keep adds p to the replay copy, or drops the copy once it is too long.
func (b *clientBody) keep(p []byte) {
	if b.tooLong || len(p) == 0 {
		return
	}
	if b.kept == nil {
		b.kept = replayBufs.Get().(*[]byte)
	}
	if len(*b.kept)+len(p) > maxReplay {
		b.tooLong = true
		b.release()
		return
	}
	*b.kept = append(*b.kept, p...)
	b.replay = len(*b.kept)
}

// rewind prepares out to send the body again from its start; false when it
// cannot be (too much was read, or the client failed). A nil b is a body
// that is not streamed: out still holds all of it.
func (b *clientBody) rewind(out *fasthttp.Request) bool {
	if b == nil {
		return true
	}
	if b.tooLong || b.err != nil {
		return false
	}
	b.replay = 0
	out.SetBodyStream(b, int(b.size))
	return true
}

// release gives the replay copy back.
func (b *clientBody) release() {
	if b == nil || b.kept == nil {
		return
	}
	*b.kept = (*b.kept)[:0]
	replayBufs.Put(b.kept)
	b.kept = nil
}

var replayBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

// attachBody gives out the client's body: the server's body stream when the
// app runs with StreamRequestBody, else the buffered body. It returns the
// stream wrapper, or nil when the body was buffered.
func attachBody(out *fasthttp.Request, fctx *fasthttp.RequestCtx, readTimeout time.Duration) *clientBody {
	in := &fctx.Request
	if s := fctx.RequestBodyStream(); s != nil {
		// ContentLength is the client's Content-Length, or -1 for a chunked
		// body, which then goes upstream chunked too.
		size := in.Header.ContentLength()
		b := &clientBody{stream: s, fctx: fctx, readTimeout: readTimeout, size: int64(size)}
		out.SetBodyStream(b, size)
		return b
	}
	if body := in.Body(); len(body) > 0 {
		out.SetBodyRaw(body)
	}
	return nil
}

// connEnd is what becomes of the upstream connection once a response has
// been relayed: a pooled connection goes back to its pool if the response was
// read to its end and nothing else is pending on it, or is closed; any other
// connection (a refused WebSocket upgrade's) is closed, unless closer is nil
// (the caller's, as for Relay).
type connEnd struct {
	pool   *connPool
	uc     *upstreamConn
	closer io.Closer
	eof    func() bool // the upstream has closed; for a connection not pooled
}

// finish ends the connection's part in resp. clean reports that the body was
// read to its end and relayed.
func (e connEnd) finish(clean bool, resp *fasthttp.Response) {
	if e.uc != nil {
		if clean && !resp.ConnectionClose() {
			e.pool.put(e.uc)
		} else {
			e.pool.drop(e.uc)
		}
	}
	if e.closer != nil {
		_ = e.closer.Close()
	}
}

// upstreamClosed reports whether the upstream has closed the connection.
// fasthttp's response stream reports a chunked body cut off between two
// chunks as a clean io.EOF; this tells the two apart.
func (e connEnd) upstreamClosed() bool {
	if e.uc != nil {
		return e.uc.conn.eof.Load()
	}
	return e.eof != nil && e.eof()
}

// upstreamBody is the upstream's response body on its way to the client,
// read by fasthttp after the handler has returned. Before handing on each
// piece it pushes the server's write deadline writeTimeout ahead, so
// WriteTimeout bounds a stall, not the whole download. A body that ends
// before its Content-Length, or a chunked body whose upstream closed the
// connection before the last chunk, ends in io.ErrUnexpectedEOF, so that
// fasthttp aborts the client's response (no final chunk; the connection is
// closed) instead of ending it cleanly.
//
// fasthttp calls CloseWithError when it is done, with the error that stopped
// the write: the upstream connection goes back to the pool only if the body
// was read to its end and nothing failed.
type upstreamBody struct {
	resp    *fasthttp.Response
	stream  io.Reader
	chunked bool
	push    deadlinePusher
	end     connEnd
	err     error // a truncation found by Read
	ended   bool  // the stream reported its end
	closed  bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.stream.Read(p)
	if err == io.EOF && b.chunked && b.end.upstreamClosed() {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		b.ended = true
	} else if err != nil {
		b.err = err
	}
	if n > 0 {
		b.push.push()
	}
	return n, err
}

// writeDeadliner is the client connection (or its RequestCtx).
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// deadlinePusher puts the write deadline of conn timeout ahead; with a nil
// conn it does nothing.
type deadlinePusher struct {
	conn    writeDeadliner
	timeout time.Duration
}

func (d deadlinePusher) push() {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

// CloseWithError implements fasthttp.ReadCloserWithError.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.closed {
		return nil
	}
	b.closed = true
	if err == nil {
		err = b.err
	}
	if s, ok := b.stream.(fasthttp.ReadCloserWithError); ok {
		_ = s.CloseWithError(err)
	}
	cerr := b.resp.CloseBodyStream()
	b.end.finish(err == nil && cerr == nil && b.ended, b.resp)
	fasthttp.ReleaseResponse(b.resp)
	return cerr
}
