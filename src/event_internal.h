/* Library-internal part of extraction (event.c). */
#ifndef TARN_EVENT_INTERNAL_H
#define TARN_EVENT_INTERNAL_H

/* Free the calling thread's JSON tokener (kept between extractions); a
 * thread that extracted calls it before it ends. */
void tarn__event_thread_done(void);

#endif
