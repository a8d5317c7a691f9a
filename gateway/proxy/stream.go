package proxy

import (
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// clientBody is the client's request body on its way upstream. It pushes the
// server's read deadline readTimeout ahead before each read (so ReadTimeout
// bounds a stall, not the whole upload) and remembers a failed read, which is
// the client's fault and not the upstream's. A body that ends before its
// Content-Length is such a failure (fasthttp's server stream reports a plain
// io.EOF for it).
type clientBody struct {
	stream      io.Reader
	fctx        *fasthttp.RequestCtx
	readTimeout time.Duration
	size        int64 // Content-Length, or -1
	read        int64
	err         error
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.readTimeout > 0 {
		_ = b.fctx.SetReadDeadline(time.Now().Add(b.readTimeout))
	}
	n, err := b.stream.Read(p)
	b.read += int64(n)
	if err == io.EOF && b.size >= 0 && b.read < b.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

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

// upstreamBody is the upstream's response body on its way to the client,
// read by fasthttp after the handler has returned. Before handing on each
// piece it pushes the server's write deadline writeTimeout ahead, so
// WriteTimeout bounds a stall, not the whole download. A chunked body whose
// upstream closed the connection before the last chunk ends in
// io.ErrUnexpectedEOF, so that fasthttp aborts the client's response instead
// of ending it cleanly.
//
// fasthttp calls CloseWithError when it is done, with the error that stopped
// the write: the upstream connection goes back to the pool only if the body
// was read to its end and nothing failed.
type upstreamBody struct {
	p           *Proxy
	resp        *fasthttp.Response
	stream      io.Reader
	chunked     bool
	push        deadlinePusher
	closer      io.Closer
	upstreamEOF func() bool // nil: p.upstreamClosed(resp)
	err         error       // a truncation found by Read
	closed      bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.stream.Read(p)
	if err == io.EOF && b.chunked && b.closedByUpstream() {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	if n > 0 {
		b.push.push()
	}
	return n, err
}

func (b *upstreamBody) closedByUpstream() bool {
	if b.upstreamEOF != nil {
		return b.upstreamEOF()
	}
	return b.p.upstreamClosed(b.resp)
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
	fasthttp.ReleaseResponse(b.resp)
	if b.closer != nil {
		if e := b.closer.Close(); cerr == nil {
			cerr = e
		}
	}
	return cerr
}
